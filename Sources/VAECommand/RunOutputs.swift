import Dataset
import Evaluation
import FileIO
import Foundation
import Media
import Model
import Training

/// The pictures and the page rank 0 leaves in `RUN/outputs/`: what a run is worth looking at.
struct RunOutputs {
    /// Where the pictures and the page go.
    let directory: URL
    /// The run's metrics.jsonl, for the loss curves, and the last epoch to draw from it.
    let metrics: URL?
    let lastEpoch: Int?
    /// Reads the upscales for the scores; without it the page has no "read right" figures.
    let reader: DigitReader?

    /// A run's own outputs: `RUN/outputs`, with all of its metrics. A run goes on without the
    /// bundled digit reader if it cannot be loaded, saying why.
    init(runDirectory: URL) {
        directory = runDirectory.appendingPathComponent("outputs")
        metrics = runDirectory.appendingPathComponent("metrics.jsonl")
        lastEpoch = nil
        do {
            reader = try ReaderOption.bundled()
        } catch {
            Console.note("outputs without digits read right: \(error)")
            reader = nil
        }
    }

    init(directory: URL, metrics: URL?, lastEpoch: Int?, reader: DigitReader) {
        self.directory = directory
        self.metrics = metrics
        self.lastEpoch = lastEpoch
        self.reader = reader
    }

    /// `vae eval --json` of the test set, which TensorBoard's log takes its figures from.
    static let scoresFile = "scores.json"

    /// Test digits shown on the upscale sheet, and the write-up's morph (a 3 into a 2).
    static let sheetDigits = 10
    static let morphFrom = 10, morphTo = 5, morphSteps = 25

    /// Writes every output for `weights`; returns the report's path.
    func write(_ weights: InferenceWeights, train: ImageSet, test: ImageSet, settings: [(String, String)]) throws -> URL {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try upscaleSheet(weights, test)
        try morph(weights, train)
        let latentNote = try latent(weights, test)
        let manifold = try self.manifold(weights)
        let hasCurves = try lossCurves()
        let scores = Scores(weights, images: test, count: test.count, reader: reader)
        try writeAtomically(Array(try scores.json()), to: url(Self.scoresFile))
        try misreadSheet(weights, test, scores.misreadExamples)
        let explorer = explorerData(weights, test)
        return try report(settings: settings, scores: scores, latentNote: latentNote, manifold: manifold, curves: hasCurves,
                          explorer: explorer)
    }

    /// The first test digits whose upscale the reader misreads: the model's upscale above the
    /// original. Left out (and an old one removed) when there are none.
    private func misreadSheet(_ weights: InferenceWeights, _ test: ImageSet, _ examples: [Scores.MisreadImage]) throws {
        let sheet = url("misread.png")
        guard !examples.isEmpty else {
            try? FileManager.default.removeItem(at: sheet)
            return
        }
        var inputs = [Float](repeating: 0, count: examples.count * VAE.inputPixels)
        var truth = [Float](repeating: 0, count: examples.count * VAE.outputPixels)
        for (i, example) in examples.enumerated() {
            inputs.withUnsafeMutableBufferPointer { test.lowResolution(example.index, into: $0.baseAddress! + i * VAE.inputPixels) }
            truth.withUnsafeMutableBufferPointer { test.target(example.index, into: $0.baseAddress! + i * VAE.outputPixels) }
        }
        let model = Inference.reconstruct(weights, inputs: inputs, count: examples.count)
        let side = VAE.outputSide
        func image(_ pixels: [Float], _ i: Int) -> GreyImage {
            GreyImage(width: side, height: side, pixels: Array(pixels[(i * side * side)..<((i + 1) * side * side)])).enlarged(by: 2)
        }
        let cells = examples.indices.map { image(model, $0) } + examples.indices.map { image(truth, $0) }
        try PNG.write(GreyImage.grid(cells, columns: examples.count, padding: 4, background: 0.3).enlarged(by: 2), to: sheet)
    }

    private func url(_ name: String) -> URL { directory.appendingPathComponent(name) }

    /// Rows: the 8x8 input, bicubic upscaling of it, the model's upscaling, the original.
    private func upscaleSheet(_ weights: InferenceWeights, _ test: ImageSet) throws {
        let count = min(Self.sheetDigits, test.count)
        let side = VAE.outputSide, cell = 2 * side    // 8x8 inputs enlarged 7 times, 28x28 twice
        var inputs = [Float](repeating: 0, count: count * VAE.inputPixels)
        var truth = [Float](repeating: 0, count: count * VAE.outputPixels)
        for i in 0..<count {
            inputs.withUnsafeMutableBufferPointer { test.lowResolution(i, into: $0.baseAddress! + i * VAE.inputPixels) }
            truth.withUnsafeMutableBufferPointer { test.target(i, into: $0.baseAddress! + i * VAE.outputPixels) }
        }
        let model = Inference.reconstruct(weights, inputs: inputs, count: count)
        var cells = GreyImage.squares(inputs, side: VAE.inputSide).map { $0.enlarged(by: cell / VAE.inputSide) }
        for i in 0..<count {
            var bicubic = [Float](repeating: 0, count: VAE.outputPixels)
            inputs.withUnsafeBufferPointer { x in
                Resize.bicubic(x.baseAddress! + i * VAE.inputPixels, height: VAE.inputSide, width: VAE.inputSide,
                               into: &bicubic, outHeight: side, outWidth: side)
            }
            cells.append(GreyImage(width: side, height: side, pixels: bicubic.map { min(max($0, 0), 1) }).enlarged(by: 2))
        }
        cells += GreyImage.squares(model, side: side).map { $0.enlarged(by: 2) }
        cells += GreyImage.squares(truth, side: side).map { $0.enlarged(by: 2) }
        let sheet = GreyImage.grid(cells, columns: count, padding: 4, background: 0.3)
        try PNG.write(sheet.enlarged(by: 2), to: url("upscale.png"))
    }

    private func morph(_ weights: InferenceWeights, _ train: ImageSet) throws {
        guard train.count > max(Self.morphFrom, Self.morphTo) else { return }
        try Morph.write(weights, from: train.lowResolution(Self.morphFrom), to: train.lowResolution(Self.morphTo),
                        steps: Self.morphSteps, framesPerSecond: 10, gifScale: 6, stripScale: 3,
                        gif: url("morph.gif"), strip: url("morph-strip.png"))
    }

    /// The test set's encodings (z_mean), coloured by digit. Returns a caption.
    private func latent(_ weights: InferenceWeights, _ test: ImageSet) throws -> String {
        let plot = LatentPicture.scatter(weights, images: test, count: test.count)
        try plot.write(to: url("latent.svg"))
        return weights.model.latentDimension == 2
            ? "The \(test.count) test digits' encodings (z_mean)."
            : "The \(test.count) test digits' encodings (z_mean) along the two of their \(weights.model.latentDimension) latent dimensions that vary most."
    }

    /// For a 2-D latent: decodings of a grid over the latent plane.
    private func manifold(_ weights: InferenceWeights) throws -> Bool {
        guard weights.model.latentDimension == 2 else { return false }
        try PNG.write(LatentPicture.manifold(weights), to: url("manifold.png"))
        return true
    }

    /// Train and test loss per epoch, from metrics.jsonl (up to `lastEpoch` if given).
    private func lossCurves() throws -> Bool {
        let lines = metrics.flatMap { try? String(contentsOf: $0, encoding: .utf8) } ?? ""
        let metrics = lines.split(separator: "\n").compactMap { try? JSONDecoder().decode(EpochMetrics.self, from: Data($0.utf8)) }
            .filter { $0.epoch <= lastEpoch ?? .max }
        guard !metrics.isEmpty else { return false }
        var series = [LinePlot.Series(name: "train", x: metrics.map { Double($0.epoch) }, y: metrics.map(\.loss))]
        let tested = metrics.filter { $0.test != nil }
        if !tested.isEmpty {
            series.append(.init(name: "test (z_mean)", x: tested.map { Double($0.epoch) }, y: tested.map { $0.test!.loss }))
        }
        var plot = LinePlot(title: "Loss per epoch", xLabel: "epoch", yLabel: "loss (reconstruction + KL)", series: series)
        plot.wholeXSteps = true
        try plot.write(to: url("losses.svg"))
        return true
    }

    /// Test digits the explorer embeds (their 8x8 inputs, as float32) to plot, pick and morph.
    static let explorerDigits = 500

    /// The explorer's data, as JSON for the page: the weights (float32, base64) with their
    /// Keras names, offsets and shapes; the first test digits' 8x8 inputs and labels; the plane's
    /// two dimensions (those `latent.svg` would pick for these digits) and their range.
    private func explorerData(_ weights: InferenceWeights, _ test: ImageSet) -> String {
        let count = min(Self.explorerDigits, test.count)
        let encodings = LatentEncodings(weights, images: test, count: count), latent = encodings.latent
        let (a, b) = encodings.mostSpreadDimensions()
        let dimensions = [a, b ?? a]
        let ranges = dimensions.map { j -> (Float, Float) in
            let values = encodings.values(along: j)
            let low = values.min() ?? -1, high = values.max() ?? 1, margin = max((high - low) * 0.05, 0.1)
            return (low - margin, high + margin)
        }
        func base64(_ values: [Float]) -> String { values.withUnsafeBytes { Data($0).base64EncodedString() } }
        let layout = weights.model.layout.specs.map { "\"\($0.name)\": [\($0.offset), \($0.shape)]" }.joined(separator: ", ")
        let labels = (0..<count).map { "\(test.labels[$0])" }.joined(separator: ",")
        return """
        {"latent": \(latent), "morphSteps": \(Self.morphSteps), "layout": {\(layout)},
         "plane": {"dimensions": \(dimensions), "min": [\(ranges[0].0), \(ranges[1].0)], "max": [\(ranges[0].1), \(ranges[1].1)]},
         "digits": {"labels": [\(labels)], "inputs": "\(base64(encodings.inputs))"},
         "weights": "\(base64(weights.parameters))"}
        """
    }

    private func report(settings: [(String, String)], scores: Scores, latentNote: String, manifold: Bool, curves: Bool,
                        explorer: String) throws -> URL {
        let rows = settings.map { "<tr><th>\(escapeXML($0.0))</th><td>\(escapeXML($0.1))</td></tr>" }.joined(separator: "\n")
        func score(_ name: String, _ psnr: Double, _ ssim: Double, _ readRight: Double?) -> String {
            String(format: "<tr><th>%@</th><td>%.2f dB</td><td>%.3f</td>", name, psnr, ssim)
                + (readRight.map { String(format: "<td>%.1f%%</td>", 100 * $0) } ?? "") + "</tr>"
        }
        let readColumn = scores.readRight == nil ? "" : "<th>read right</th>"
        let originalsRow = scores.originals.map {
            String(format: "<tr><th>the originals (the reader's ceiling)</th><td></td><td></td><td>%.1f%%</td></tr>", 100 * $0.readRight)
        } ?? ""
        let mostMisread = (scores.mostMisread ?? []).map { "\($0.digit) as \($0.readAs) (\($0.images) times)" }.joined(separator: ", ")
        let misread = scores.misreadExamples.map { "test digit \($0.index): a \($0.digit) read as \($0.readAs)" }.joined(separator: "; ")
        let misreadFigure = misread.isEmpty ? "" : """
            <figure><img src="misread.png" alt="misread upscales">
            <figcaption>The first test digits whose upscale by this model the digit reader misreads (top: this model's upscale; bottom: the original): \(misread).</figcaption></figure>
            """
        let html = """
        <!doctype html>
        <html lang="en"><head><meta charset="utf-8"><title>vae run report</title>
        <style>
        body { font-family: system-ui, sans-serif; margin: 2em auto; padding: 0 1em; max-width: 70em; color: #222; }
        img { image-rendering: pixelated; max-width: 100%; }
        table { border-collapse: collapse; margin: 0.5em 0 1.5em; }
        th, td { text-align: left; padding: 0.2em 1em 0.2em 0; }
        figure { margin: 1em 0 2em; } figcaption { color: #555; }
        canvas { image-rendering: pixelated; border: 1px solid #ccc; vertical-align: top; }
        .digit { width: 168px; height: 168px; }
        .row { display: flex; flex-wrap: wrap; gap: 1.5em; align-items: flex-start; }
        .row figure { margin: 0; max-width: 360px; } #sliders label { display: block; } input[type=number] { width: 5em; }
        </style></head><body>
        <h1>vae run report</h1>
        <section id="explorer" hidden>
        <h2>Explore the model</h2>
        <p>Decoded here, by the run's own weights (embedded in this page), as you move.</p>
        <div class="row">
        <figure><canvas id="plane" width="360" height="360"></canvas>
        <figcaption>The first \(Self.explorerDigits) test digits' encodings, coloured by digit (0 blue, 1 orange, 2 green, 3 red, 4 purple, 5 brown, 6 pink, 7 grey, 8 olive, 9 cyan).<br>Move over the plane to decode that point; click two digits to morph between them.</figcaption></figure>
        <figure><canvas id="plane-decode" class="digit" width="\(VAE.outputSide)" height="\(VAE.outputSide)"></canvas><figcaption id="plane-z"></figcaption>
        <div id="sliders"></div></figure>
        </div>
        <h3>Morph</h3>
        <div class="row"><div><label>from test digit <input id="morph-from" type="number" min="0" max="\(Self.explorerDigits - 1)" value="3"></label>
        <label>to <input id="morph-to" type="number" min="0" max="\(Self.explorerDigits - 1)" value="2"></label><br>
        <label>step <input id="morph-step" type="range" min="0" max="\(Self.morphSteps - 1)" value="0"></label></div>
        <canvas id="morph-decode" class="digit" width="\(VAE.outputSide)" height="\(VAE.outputSide)"></canvas></div>
        <h3>Upscale</h3>
        <div class="row"><div><label>test digit <input id="upscale-index" type="number" min="0" max="\(Self.explorerDigits - 1)" value="0"></label>
        <button id="clear" type="button">clear</button><br>or draw on the 8x8 grid (shift erases)<br>
        <canvas id="draw" class="digit" width="\(VAE.inputSide)" height="\(VAE.inputSide)" style="cursor: crosshair"></canvas></div>
        <figure><canvas id="upscale-bicubic" class="digit" width="\(VAE.outputSide)" height="\(VAE.outputSide)"></canvas><figcaption>bicubic</figcaption></figure>
        <figure><canvas id="upscale-model" class="digit" width="\(VAE.outputSide)" height="\(VAE.outputSide)"></canvas><figcaption>this model</figcaption></figure></div>
        </section>
        <noscript><p>With JavaScript on, this page also decodes the latent space live, morphs between digits and upscales digits you draw.</p></noscript>
        <script type="application/json" id="explorer-data">\(explorer)</script>
        <script>\(ExplorerScript.source)</script>
        <h2>Settings</h2>
        <table>\(rows)</table>
        <h2>Test set (\(scores.images) images)</h2>
        <p>Loss \(String(format: "%.2f", scores.loss)) (reconstruction \(String(format: "%.2f", scores.reconstructionLoss)), KL \(String(format: "%.3f", scores.klLoss))), decoding z_mean.</p>
        <table><tr><th>upscaling 8x8 to 28x28</th><th>PSNR</th><th>SSIM</th>\(readColumn)</tr>
        \(score("this model", scores.psnrDB, scores.ssim, scores.readRight))
        \(score("bicubic", scores.bicubic.psnrDB, scores.bicubic.ssim, scores.bicubic.readRight))
        \(score("bilinear", scores.bilinear.psnrDB, scores.bilinear.ssim, scores.bilinear.readRight))
        \(originalsRow)
        </table>
        \(readColumn.isEmpty ? "" : "<p>Read right: how often a small CNN digit reader (<code>bench/train_digit_reader.py</code>) reads the upscale as its digit\(mostMisread.isEmpty ? "" : "; this model's upscales it misreads most: " + mostMisread).</p>")
        \(misreadFigure)
        <figure><img src="upscale.png" alt="upscale sheet">
        <figcaption>The first \(Self.sheetDigits) test digits. Rows, top to bottom: the 8x8 input, bicubic upscaling, this model's upscaling, the original 28x28.</figcaption></figure>
        <figure><img src="morph.gif" alt="morph animation" width="168"> <img src="morph-strip.png" alt="morph frames">
        <figcaption>Morphing training image \(Self.morphFrom) into image \(Self.morphTo) (a 3 into a 2, as in the write-up): \(Self.morphSteps) decodings along the line between their encodings.</figcaption></figure>
        <figure><img src="latent.svg" alt="latent space"><figcaption>\(escapeXML(latentNote))</figcaption></figure>
        \(manifold ? "<figure><img src=\"manifold.png\" alt=\"decoded latent plane\"><figcaption>Decodings of a \(LatentPicture.manifoldSide)x\(LatentPicture.manifoldSide) grid over the latent plane, z from \(-LatentPicture.manifoldExtent) to \(LatentPicture.manifoldExtent) on each axis (z[0] left to right, z[1] bottom to top).</figcaption></figure>" : "")
        \(curves ? "<figure><img src=\"losses.svg\" alt=\"loss curves\"><figcaption>Training loss (mean of the epoch's batches) and test loss, per epoch; with a KL weight other than 1 the KL term is weighted as in training.</figcaption></figure>" : "")
        </body></html>
        """
        let page = url("report.html")
        try writeAtomically(Array(html.utf8), to: page)
        return page
    }
}
