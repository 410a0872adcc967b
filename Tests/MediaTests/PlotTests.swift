import Foundation
import Media
import Testing
import TestSupport
#if canImport(FoundationXML)
import FoundationXML
#endif

/// An SVG document parsed by Foundation's XML parser, as a flat list of elements.
struct SVGDocument {
    struct Element {
        let name: String
        let attributes: [String: String]
        /// The text directly inside the element.
        let text: String
        /// The `class` of each enclosing element, outermost first.
        let enclosingClasses: [String]

        var classes: [String] { (attributes["class"] ?? "").split(separator: " ").map(String.init) }

        func number(_ attribute: String) -> Double? { attributes[attribute].flatMap(Double.init) }
    }

    let elements: [Element]

    init(_ text: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let collector = Collector()
        let parser = XMLParser(data: Data(text.utf8))
        parser.delegate = collector
        let parsed = parser.parse()
        #expect(parsed, "not well-formed XML: \(String(describing: parser.parserError))", sourceLocation: sourceLocation)
        try #require(parsed, sourceLocation: sourceLocation)
        elements = collector.finished
    }

    func all(_ name: String, classed className: String? = nil) -> [Element] {
        elements.filter { $0.name == name && (className == nil || $0.classes.contains(className!)) }
    }

    func texts(classed className: String) -> [String] {
        all("text", classed: className).map(\.text)
    }

    /// The numbers of one axis's tick labels.
    func ticks(_ className: String) -> [Double] {
        texts(classed: className).compactMap(Double.init)
    }

    /// The plot area, from the frame path "M left top H right V bottom ...".
    func plotArea() throws -> (left: Double, right: Double, top: Double, bottom: Double) {
        let d = try #require(all("path", classed: "axis").first?.attributes["d"])
        let numbers = d.dropFirst().split(whereSeparator: { "MHVZhv ".contains($0) }).prefix(4).compactMap { Double($0) }
        try #require(numbers.count == 4)
        return (numbers[0], numbers[2], numbers[1], numbers[3])
    }

    private final class Collector: NSObject, XMLParserDelegate {
        var finished: [Element] = []
        private var open: [(name: String, attributes: [String: String], text: String)] = []

        func parser(_ parser: XMLParser, didStartElement elementName: String, namespaceURI: String?,
                    qualifiedName: String?, attributes: [String: String] = [:]) {
            open.append((elementName, attributes, ""))
        }

        func parser(_ parser: XMLParser, foundCharacters string: String) {
            if !open.isEmpty { open[open.count - 1].text += string }
        }

        func parser(_ parser: XMLParser, didEndElement elementName: String, namespaceURI: String?,
                    qualifiedName: String?) {
            let element = open.removeLast()
            finished.append(Element(name: element.name, attributes: element.attributes, text: element.text,
                                    enclosingClasses: open.map { $0.attributes["class"] ?? "" }))
        }
    }
}

/// Checks that `ticks` are evenly spaced 1, 2 or 5 times a power of ten apart and cover `data`.
func expectNiceTicks(_ ticks: [Double], covering data: ClosedRange<Double>, maximumCount: Int = 9,
                     sourceLocation: SourceLocation = #_sourceLocation) {
    guard ticks.count >= 2 else {
        Issue.record("only \(ticks.count) ticks", sourceLocation: sourceLocation)
        return
    }
    #expect(ticks.count <= maximumCount, "\(ticks)", sourceLocation: sourceLocation)
    let step = ticks[1] - ticks[0]
    for (a, b) in zip(ticks, ticks.dropFirst()) {
        #expect(abs((b - a) - step) <= 1e-9 * step, "uneven: \(ticks)", sourceLocation: sourceLocation)
    }
    let exponent = log10(step).rounded(.down)
    let mantissa = step / pow(10, exponent)
    #expect([1.0, 2, 5, 10].contains { abs(mantissa - $0) < 1e-9 }, "step \(step) of \(ticks)", sourceLocation: sourceLocation)
    // Each tick is a whole number of steps.
    for tick in ticks {
        #expect(abs(tick / step - (tick / step).rounded()) < 1e-6, "\(tick) in \(ticks)", sourceLocation: sourceLocation)
    }
    #expect(ticks.first! <= data.lowerBound && ticks.last! >= data.upperBound, "\(ticks) for \(data)",
            sourceLocation: sourceLocation)
    // Not more than a step of margin at either end.
    #expect(data.lowerBound - ticks.first! < step && ticks.last! - data.upperBound < step, "\(ticks) for \(data)",
            sourceLocation: sourceLocation)
}

@Suite struct NiceScaleTests {
    @Test(arguments: [
        0.3...9.7, -3.21...3.94, 0.0001...0.00052, 1...150, 138.2...480.9, -3000...33000,
        -1...1, 0.1...0.3, 1e-7...3e-7, -0.004...(-0.0011), 12_345.6...98_765.4, 0...1e12,
    ])
    func niceAndCovering(range: ClosedRange<Double>) {
        let ticks = NiceScale(covering: range).values
        expectNiceTicks(ticks, covering: range)
        // The finest such step: the next finer 1-2-5 step would need more than 9 ticks.
        let step = ticks[1] - ticks[0]
        let mantissa = (step / pow(10, log10(step).rounded(.down))).rounded()
        let finer = step * (mantissa == 5 ? 0.4 : 0.5)
        let finerCount = (range.upperBound / finer).rounded(.up) - (range.lowerBound / finer).rounded(.down) + 1
        #expect(finerCount > 9, "\(ticks) for \(range)")
    }

    @Test func examples() {
        #expect(NiceScale(covering: 0.3...9.7).values == [0, 2, 4, 6, 8, 10])
        #expect(NiceScale(covering: -3.21...3.94).values == [-4, -3, -2, -1, 0, 1, 2, 3, 4])
        // Decimal steps come out as the decimal numbers they name.
        #expect(NiceScale(covering: 0.1...0.3).values == [0.1, 0.15, 0.2, 0.25, 0.3])
        #expect(NiceScale(covering: 0.3...0.7, maximumCount: 5).values == [0.3, 0.4, 0.5, 0.6, 0.7])
        #expect(NiceScale(covering: 1...150, maximumCount: 4).values == [0, 50, 100, 150])
        #expect(NiceScale(covering: -1...1, maximumCount: 3).values == [-1, 0, 1])
    }

    @Test func aSingleValueIsWidenedAroundIt() {
        #expect(NiceScale(covering: 0...0).values == [-1, -0.5, 0, 0.5, 1])
        let ticks = NiceScale(covering: 150...150).values
        #expect(ticks.first! < 150 && ticks.contains(150) && ticks.last! > 150)
        expectNiceTicks(ticks, covering: 135...165)
    }
}

@Suite struct ScatterPlotTests {
    /// Ten Gaussian clusters of 1,000 points, interleaved by class.
    static func clusters() -> [ScatterPlot.Point] {
        var state: UInt64 = 42
        func uniform() -> Double {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return (Double(state >> 11) + 0.5) / 9_007_199_254_740_992
        }
        func normal() -> Double { (-2 * log(uniform())).squareRoot() * cos(2 * .pi * uniform()) }
        return (0..<10_000).map { i in
            let angle = Double(i % 10) * .pi / 5
            return ScatterPlot.Point(x: 2.5 * cos(angle) + 0.4 * normal(), y: 2.5 * sin(angle) + 0.4 * normal() - 0.7,
                                     classIndex: i % 10)
        }
    }

    @Test func tenThousandPointsInTenClasses() throws {
        let points = Self.clusters()
        let plot = ScatterPlot(title: "Latent space (test set)", xLabel: "z[0]", yLabel: "z[1]", points: points)
        let svg = plot.svg()
        let document = try SVGDocument(svg)

        #expect(document.texts(classed: "title") == ["Latent space (test set)"])
        #expect(document.texts(classed: "xlabel") == ["z[0]"])
        #expect(document.texts(classed: "ylabel") == ["z[1]"])
        let legend = document.all("text").filter { $0.enclosingClasses.contains("legend") }
        #expect(legend.map(\.text) == (0...9).map(String.init))

        let circles = document.all("circle").filter { $0.enclosingClasses.contains("points") }
        #expect(circles.count == 10_000)
        #expect(circles.map(\.classes) == points.map { ["c\($0.classIndex)"] })

        let xs = points.map(\.x)
        let ys = points.map(\.y)
        expectNiceTicks(document.ticks("xtick"), covering: xs.min()!...xs.max()!)
        expectNiceTicks(document.ticks("ytick"), covering: ys.min()!...ys.max()!)

        // Compact: coordinates to 0.1 px, one short element a point.
        #expect(svg.utf8.count < 600_000)
        for circle in circles.prefix(500) {
            for name in ["cx", "cy"] {
                let value = try #require(circle.attributes[name])
                #expect(!value.contains(".") || value.split(separator: ".")[1].count == 1, "\(value)")
            }
        }
        let area = try document.plotArea()
        for circle in circles {
            let (cx, cy) = (circle.number("cx")!, circle.number("cy")!)
            #expect(cx >= area.left && cx <= area.right && cy >= area.top && cy <= area.bottom)
        }
    }

    @Test func pointsLandWhereTheAxesSay() throws {
        let points = [ScatterPlot.Point(x: 1, y: 2, classIndex: 0), ScatterPlot.Point(x: 3, y: 4, classIndex: 1),
                      ScatterPlot.Point(x: 2, y: 3, classIndex: 1)]
        let document = try SVGDocument(ScatterPlot(title: "t", xLabel: "x", yLabel: "y", points: points,
                                                   classNames: ["a", "b"]).svg())
        // Both ranges are whole ticks apart, so the extreme points sit on the frame.
        #expect(document.ticks("xtick").first == 1 && document.ticks("xtick").last == 3)
        #expect(document.ticks("ytick").first == 2 && document.ticks("ytick").last == 4)
        let area = try document.plotArea()
        let circles = document.all("circle").filter { $0.enclosingClasses.contains("points") }
        let centres = circles.map { ($0.number("cx")!, $0.number("cy")!) }
        #expect(centres.count == 3)
        #expect(abs(centres[0].0 - area.left) <= 0.05 && abs(centres[0].1 - area.bottom) <= 0.05)
        #expect(abs(centres[1].0 - area.right) <= 0.05 && abs(centres[1].1 - area.top) <= 0.05)
        #expect(abs(centres[2].0 - (area.left + area.right) / 2) <= 0.1)
        #expect(abs(centres[2].1 - (area.top + area.bottom) / 2) <= 0.1)
    }

    @Test func namesAreEscapedAndPointsThatAreNotFiniteLeftOut() throws {
        let names = ["T-shirt/top", "Trouser <&> \"quoted\""]
        let points = [ScatterPlot.Point(x: Float(0.5), y: 1, classIndex: 0), .init(x: Double.nan, y: 1, classIndex: 1),
                      .init(x: 1, y: Double.infinity, classIndex: 1), .init(x: Float(-0.5), y: -1, classIndex: 1)]
        let plot = ScatterPlot(title: "A & B < C", xLabel: "x > 0", yLabel: "\"y\"", points: points, classNames: names)
        let document = try SVGDocument(plot.svg())
        #expect(document.texts(classed: "title") == ["A & B < C"])
        #expect(document.texts(classed: "xlabel") == ["x > 0"])
        #expect(document.texts(classed: "ylabel") == ["\"y\""])
        #expect(document.all("text").filter { $0.enclosingClasses.contains("legend") }.map(\.text) == names)
        #expect(document.all("circle").filter { $0.enclosingClasses.contains("points") }.count == 2)
        expectNiceTicks(document.ticks("xtick"), covering: -0.5...0.5)
        // Zero is never written as "-0".
        #expect(document.texts(classed: "xtick").allSatisfy { !$0.hasPrefix("-") || Double($0)! < 0 })
    }

    @Test func writesTheSVGAtomically() throws {
        try withTemporaryDirectory { directory in
            let url = directory.appendingPathComponent("latent.svg")
            try Data("old".utf8).write(to: url)
            let plot = ScatterPlot(title: "t", xLabel: "x", yLabel: "y", points: Array(Self.clusters().prefix(100)))
            try plot.write(to: url)
            #expect(try String(contentsOf: url, encoding: .utf8) == plot.svg())
            #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path) == ["latent.svg"])
            let missing = directory.appendingPathComponent("missing/latent.svg")
            expectOneLineError(missing, "cannot create a temporary file in \(missing.deletingLastPathComponent().path): No such file or directory") { try plot.write(to: missing) }
        }
    }

    /// Python's parser agrees that the document is well-formed SVG.
    @Test func pythonParsesIt() throws {
        try withTemporaryDirectory { directory in
            let url = directory.appendingPathComponent("latent.svg")
            try ScatterPlot(title: "t", xLabel: "x", yLabel: "y", points: Self.clusters()).write(to: url)
            let summary = try python("""
                import sys, xml.etree.ElementTree as ET
                root = ET.parse(sys.argv[1]).getroot()
                print(root.tag, len(root.findall('.//{http://www.w3.org/2000/svg}circle')))
                """, [url.path])
            #expect(summary == "{http://www.w3.org/2000/svg}svg 10010\n")  // 10 legend keys too
        }
    }
}

@Suite struct LinePlotTests {
    static let epochs = (1...150).map(Double.init)

    static func lossPlot() -> LinePlot {
        LinePlot(title: "Loss per epoch", xLabel: "epoch", yLabel: "loss", series: [
            .init(name: "train loss", x: epochs, y: epochs.map { 140 + 400 * exp(-$0 / 6) }),
            .init(name: "test loss", x: epochs, y: epochs.map { 146 + 380 * exp(-$0 / 7) }),
        ])
    }

    @Test func twoSeries() throws {
        let plot = Self.lossPlot()
        let document = try SVGDocument(plot.svg())
        #expect(document.texts(classed: "title") == ["Loss per epoch"])
        #expect(document.texts(classed: "xlabel") == ["epoch"])
        #expect(document.texts(classed: "ylabel") == ["loss"])
        #expect(document.all("text").filter { $0.enclosingClasses.contains("legend") }.map(\.text)
                == ["train loss", "test loss"])
        let lines = document.all("polyline")
        #expect(lines.map(\.classes) == [["s0"], ["s1"]])
        let area = try document.plotArea()
        for (line, series) in zip(lines, plot.series) {
            let pairs = try #require(line.attributes["points"]).split(separator: " ")
            #expect(pairs.count == series.x.count)
            // x increases left to right with the epochs; everything stays inside the frame.
            let xs = pairs.map { Double($0.split(separator: ",")[0])! }
            #expect(xs == xs.sorted())
            for pair in pairs {
                let (x, y) = (Double(pair.split(separator: ",")[0])!, Double(pair.split(separator: ",")[1])!)
                #expect(x >= area.left && x <= area.right && y >= area.top && y <= area.bottom)
            }
        }
        // 150 points a series is too many for dots.
        #expect(document.all("circle").isEmpty)
        let allY = plot.series.flatMap(\.y)
        expectNiceTicks(document.ticks("xtick"), covering: 1...150)
        expectNiceTicks(document.ticks("ytick"), covering: allY.min()!...allY.max()!)
    }

    @Test func shortSeriesGetDotsAndGapsAreSkipped() throws {
        let plot = LinePlot(title: "First epochs", xLabel: "epoch", yLabel: "", series: [
            .init(name: "reconstruction", x: [1, 2, 3], y: [0.0012, .nan, 0.00085]),
            .init(name: "kl", x: [1], y: [-0.0003]),
        ])
        let document = try SVGDocument(plot.svg())
        #expect(document.texts(classed: "ylabel").isEmpty)
        #expect(document.all("polyline").map { $0.attributes["points"]!.split(separator: " ").count } == [2, 1])
        let dots = document.all("circle").filter { $0.enclosingClasses.contains("markers") }
        #expect(dots.map(\.classes) == [["c0"], ["c0"], ["c1"]])
        expectNiceTicks(document.ticks("ytick"), covering: -0.0003...0.0012)
        expectNiceTicks(document.ticks("xtick"), covering: 1...3)
    }

    @Test func wholeStepsKeepTicksOnWholeNumbers() throws {
        var plot = LinePlot(title: "Two epochs", xLabel: "epoch", yLabel: "loss",
                            series: [.init(name: "train", x: [1, 2], y: [435.3, 265.1])])
        #expect(try SVGDocument(plot.svg()).ticks("xtick").contains { $0 != $0.rounded() }, "the default steps by fractions")
        plot.wholeXSteps = true
        let ticks = try SVGDocument(plot.svg()).ticks("xtick")
        #expect(ticks.allSatisfy { $0 == $0.rounded() } && ticks.contains(1) && ticks.contains(2), "\(ticks)")
        expectNiceTicks(ticks, covering: 1...2)
    }

    @Test func crowdedTickLabelsAreThinned() throws {
        var plot = LinePlot(title: "Narrow", xLabel: "step", yLabel: "value",
                            series: [.init(name: "a", x: [-0.00031, 0.00117], y: [12_345.6, 98_765.4])])
        plot.width = 300
        plot.height = 220
        let document = try SVGDocument(plot.svg())
        let labels = document.all("text", classed: "xtick")
        expectNiceTicks(labels.compactMap { Double($0.text) }, covering: -0.00031...0.00117)
        // Estimated at 0.6 em a character, neighbouring labels do not touch.
        for (a, b) in zip(labels, labels.dropFirst()) {
            let halfWidths = 0.6 * 11 * Double(a.text.count + b.text.count) / 2
            #expect(b.number("x")! - a.number("x")! > halfWidths, "\(a.text) and \(b.text)")
        }
    }

    @Test func anEmptyPlotStillHasAxes() throws {
        let document = try SVGDocument(LinePlot(title: "Nothing yet", xLabel: "epoch", yLabel: "loss", series: []).svg())
        #expect(document.all("polyline").isEmpty)
        #expect(document.all("g", classed: "legend").isEmpty)
        expectNiceTicks(document.ticks("xtick"), covering: 0...1)
    }

    @Test func writesTheSVGAtomically() throws {
        try withTemporaryDirectory { directory in
            let url = directory.appendingPathComponent("loss.svg")
            let plot = Self.lossPlot()
            try plot.write(to: url)
            #expect(try String(contentsOf: url, encoding: .utf8) == plot.svg())
            #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path) == ["loss.svg"])
        }
    }
}
