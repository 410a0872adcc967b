import Foundation
import Kernels
import Model
import Testing
import TestSupport

/// The decoder's direct transposed-convolution kernels against a float64 reference written the
/// other way round (each input pixel scatters its kernel-weighted window into the output, the
/// definition), at the model's own shapes and at shapes that leave partial tiles (of every
/// build's tiles: 6 or 14 rows, 16 or 32 columns); and against finite differences of their own
/// forward. Each check runs for every kernel build; those this CPU lacks are skipped by name.
struct TransposedConvolutionTests {
    /// One layer's case: input grid shape, output channels, stride (2: upsampling; 1: the
    /// one-channel output layer), batch.
    struct Case: Sendable, CustomStringConvertible {
        let input: GridShape, outputs: Int, stride: Int, batch: Int
        var outputHeight: Int { input.height * stride }
        var outputWidth: Int { input.width * stride }
        var description: String {
            "\(input.height)x\(input.width)x\(input.channels) -> \(outputs), stride \(stride), batch \(batch)"
        }
    }

    static let cases: [Case] = [
        Case(input: GridShape(height: 7, width: 7, channels: 64), outputs: 64, stride: 2, batch: 2),    // deconv1
        Case(input: GridShape(height: 14, width: 14, channels: 64), outputs: 32, stride: 2, batch: 2),  // deconv2
        Case(input: GridShape(height: 28, width: 28, channels: 32), outputs: 1, stride: 1, batch: 2),   // deconv3
        Case(input: GridShape(height: 3, width: 5, channels: 16), outputs: 48, stride: 2, batch: 3),
        Case(input: GridShape(height: 1, width: 1, channels: 32), outputs: 16, stride: 2, batch: 1),
        Case(input: GridShape(height: 5, width: 2, channels: 64), outputs: 1, stride: 1, batch: 2),
        Case(input: GridShape(height: 3, width: 10, channels: 32), outputs: 1, stride: 1, batch: 2),
        Case(input: GridShape(height: 4, width: 5, channels: 48), outputs: 80, stride: 2, batch: 2),
    ]

    /// Values of a case in plain HWC images (what the reference works on).
    struct Values {
        var x: [Float], kernel: [Float], bias: [Float], dy: [Float]
    }

    static func values(_ c: Case, seed: UInt64) -> Values {
        var rng = SplitMix64(state: seed)
        func random(_ n: Int, _ range: ClosedRange<Float>) -> [Float] { (0..<n).map { _ in .random(in: range, using: &rng) } }
        // The input is a ReLU output: a quarter of it exactly zero, the rest well away from zero.
        let x = random(c.batch * c.input.imageCount, 0...1).map { $0 < 0.25 ? 0 : $0 + 0.05 }
        return Values(x: x, kernel: random(9 * c.outputs * c.input.channels, -0.5...0.5), bias: random(c.outputs, -0.3...0.3),
                      dy: random(c.batch * c.outputHeight * c.outputWidth * c.outputs, -1...1))
    }

    /// Where input (iy, ix) and tap (ky, kx) land in the output, if inside: stride 2 "same" pads
    /// nothing before; stride 1 pads one each side.
    static func target(_ c: Case, _ iy: Int, _ ix: Int, _ ky: Int, _ kx: Int) -> (Int, Int)? {
        let pad = c.stride == 1 ? 1 : 0
        let (oy, ox) = (iy * c.stride + ky - pad, ix * c.stride + kx - pad)
        return oy >= 0 && oy < c.outputHeight && ox >= 0 && ox < c.outputWidth ? (oy, ox) : nil
    }

    /// Calls `body` for every (image, input pixel, tap, output pixel) of the definition, with
    /// the offsets of x's pixel, the output's pixel and the kernel's [ky][kx] block.
    static func forEachContribution(_ c: Case, _ body: (_ x: Int, _ y: Int, _ tap: Int) -> Void) {
        let (h, w) = (c.input.height, c.input.width)
        for n in 0..<c.batch {
            for iy in 0..<h {
                for ix in 0..<w {
                    for ky in 0..<3 {
                        for kx in 0..<3 {
                            guard let (oy, ox) = target(c, iy, ix, ky, kx) else { continue }
                            body(((n * h + iy) * w + ix) * c.input.channels,
                                 ((n * c.outputHeight + oy) * c.outputWidth + ox) * c.outputs,
                                 (ky * 3 + kx) * c.outputs * c.input.channels)
                        }
                    }
                }
            }
        }
    }

    struct Results: Equatable {
        var y: [Double], kernelGradient: [Double], biasGradient: [Double], inputGradient: [Double]
    }

    /// `value` rounded to bfloat16 (8 significant bits, to nearest even), subnormals to zero:
    /// what the bf16 kernels multiply.
    static func bfloat16(_ value: Float) -> Float {
        if value.isSubnormal { return value.sign == .minus ? -0.0 : 0 }
        if value.isNaN { return value }
        let kept = value.bitPattern & 0xffff_0000, dropped = value.bitPattern & 0xffff
        let up = dropped > 0x8000 || (dropped == 0x8000 && kept & 0x1_0000 != 0)
        return Float(bitPattern: up ? kept &+ 0x1_0000 : kept)
    }

    /// The float64 reference: forward (bias, and ReLU for the upsampling layers), and backward
    /// from `dy` (masked by that ReLU), with the input gradient masked where x is zero. In bf16
    /// the products' factors (x, the kernel and the masked dy) are rounded to bfloat16 first;
    /// the bias gradient sums dy unrounded.
    static func reference(_ c: Case, _ v: Values, precision: Precision = .fp32) -> Results {
        let cin = c.input.channels, cout = c.outputs
        let factor: (Float) -> Double = precision == .bf16 ? { Double(bfloat16($0)) } : { Double($0) }
        let x = v.x.map(factor), kernel = v.kernel.map(factor)
        var y = [Double](repeating: 0, count: v.dy.count)
        forEachContribution(c) { xAt, yAt, tap in
            for o in 0..<cout {
                for i in 0..<cin { y[yAt + o] += x[xAt + i] * kernel[tap + o * cin + i] }
            }
        }
        var maskedDy = v.dy
        for j in y.indices {
            y[j] += Double(v.bias[j % cout])
            if c.stride == 2 && y[j] < 0 { y[j] = 0; maskedDy[j] = 0 }
        }
        let dy = maskedDy.map(factor)
        var dk = [Double](repeating: 0, count: v.kernel.count), db = [Double](repeating: 0, count: cout)
        var dx = [Double](repeating: 0, count: v.x.count)
        for j in dy.indices { db[j % cout] += Double(maskedDy[j]) }
        forEachContribution(c) { xAt, yAt, tap in
            for o in 0..<cout {
                for i in 0..<cin {
                    dk[tap + o * cin + i] += dy[yAt + o] * x[xAt + i]
                    dx[xAt + i] += dy[yAt + o] * kernel[tap + o * cin + i]
                }
            }
        }
        for j in dx.indices where v.x[j] == 0 { dx[j] = 0 }
        return Results(y: y, kernelGradient: dk, biasGradient: db, inputGradient: dx)
    }

    /// Plain images -> grids, with `fill` in every border cell.
    static func grids(_ images: [Float], _ shape: GridShape, batch: Int, border fill: Float = 0) -> [Float] {
        var grids = [Float](repeating: fill, count: batch * shape.count)
        let row = (shape.width + 2) * shape.channels
        for n in 0..<batch {
            for y in 0..<shape.height {
                for x in 0..<shape.width * shape.channels {
                    grids[n * shape.count + (y + 1) * row + shape.channels + x] = images[(n * shape.height + y) * shape.width * shape.channels + x]
                }
            }
        }
        return grids
    }

    /// Grids -> plain images, and whether every border cell still holds `fill`.
    static func images(_ grids: [Float], _ shape: GridShape, batch: Int, border fill: Float) -> ([Float], Bool) {
        var images: [Float] = [], borderKept = true
        let row = (shape.width + 2) * shape.channels
        for n in 0..<batch {
            for y in 0..<(shape.height + 2) {
                for x in 0..<row {
                    let value = grids[n * shape.count + y * row + x]
                    let inside = y >= 1 && y <= shape.height && x >= shape.channels && x < (shape.width + 1) * shape.channels
                    if inside { images.append(value) } else if value != fill { borderKept = false }
                }
            }
        }
        return (images, borderKept)
    }

    /// The kernels under test, on plain images in and out. Output grids are pre-filled with a
    /// sentinel border, which must come back untouched.
    static func kernels(_ c: Case, _ v: Values, precision: Precision = .fp32,
                        helpers: Helpers? = nil) -> (results: Results, bordersKept: Bool) {
        let sentinel: Float = 7
        let xGrids = grids(v.x, c.input, batch: c.batch)
        var kernelGradient = [Float](repeating: 0, count: v.kernel.count), biasGradient = [Float](repeating: 0, count: c.outputs)
        var dxGrids = [Float](repeating: sentinel, count: c.batch * c.input.count)
        var y: [Float], bordersKept = true
        if c.stride == 2 {
            let outShape = UpsamplingConvTranspose2D.outputShape(c.input, outputs: c.outputs)
            var scratch = [Float](repeating: .nan, count: UpsamplingConvTranspose2D.scratchCount(input: c.input, outputs: c.outputs))
            var yGrids = [Float](repeating: sentinel, count: c.batch * outShape.count)
            UpsamplingConvTranspose2D.forward(xGrids, batch: c.batch, input: c.input, outputs: c.outputs, kernel: v.kernel,
                                              bias: v.bias, relu: true, precision: precision, scratch: &scratch, helpers: helpers,
                                              into: &yGrids)
            let (plainY, kept) = images(yGrids, outShape, batch: c.batch, border: sentinel)
            y = plainY
            bordersKept = bordersKept && kept
            let dy = zip(v.dy, plainY).map { $1 > 0 ? $0 : 0 }
            UpsamplingConvTranspose2D.backward(grids(dy, outShape, batch: c.batch), x: xGrids, batch: c.batch, input: c.input,
                                               outputs: c.outputs, kernel: v.kernel, precision: precision, scratch: &scratch,
                                               helpers: helpers, kernelGradient: &kernelGradient, biasGradient: &biasGradient,
                                               inputGradient: &dxGrids, inputGradientIsGrid: true)
        } else {
            y = [Float](repeating: .nan, count: v.dy.count)
            var scratch = [Float](repeating: .nan, count: GridShape(height: c.outputHeight, width: c.outputWidth, channels: 1).count)
            OutputConvTranspose2D.forward(xGrids, batch: c.batch, input: c.input, kernel: v.kernel, bias: v.bias, into: &y)
            OutputConvTranspose2D.backward(v.dy, x: xGrids, batch: c.batch, input: c.input, kernel: v.kernel,
                                           kernelGradient: &kernelGradient, biasGradient: &biasGradient, scratch: &scratch,
                                           inputGradient: &dxGrids)
        }
        let (dx, kept) = images(dxGrids, c.input, batch: c.batch, border: sentinel)
        return (Results(y: y.map(Double.init), kernelGradient: kernelGradient.map(Double.init),
                        biasGradient: biasGradient.map(Double.init), inputGradient: dx.map(Double.init)),
                bordersKept && kept)
    }

    /// Largest difference relative to the reference tensor's largest magnitude.
    static func relativeError(_ a: [Double], _ b: [Double]) -> Double {
        precondition(a.count == b.count)
        let scale = max(b.map(abs).max() ?? 0, 1e-30)
        return zip(a, b).map { abs($0 - $1) }.max()! / scale
    }

    @Test(arguments: KernelBuild.allCases, cases)
    func matchesTheFloat64Definition(_ build: KernelBuild, _ c: Case) throws {
        try useKernels(build)
        defer { KernelBuild.endUseOnThisThread() }
        let v = Self.values(c, seed: UInt64(c.input.count * 31 + c.outputs))
        let expected = Self.reference(c, v)
        let (got, bordersKept) = Self.kernels(c, v)
        #expect(bordersKept, "a kernel wrote outside its grids' interiors")
        for (name, mine, theirs) in [("output", got.y, expected.y), ("kernel gradient", got.kernelGradient, expected.kernelGradient),
                                     ("bias gradient", got.biasGradient, expected.biasGradient),
                                     ("input gradient", got.inputGradient, expected.inputGradient)] {
            let error = Self.relativeError(mine, theirs)
            #expect(error < 2e-6, "\(build), \(c): \(name) differs by \(error)")
        }
        // Masked input gradients are exactly zero where the input was.
        #expect(zip(got.inputGradient, v.x).allSatisfy { $1 != 0 || $0 == 0 })
        // And the same call gives the same bits.
        #expect(Self.kernels(c, v).results == got)
    }

    /// The backward against central differences of the forward, for L = sum(y * dy), on the
    /// small cases (every element costs two forward passes). A positive bias keeps every
    /// output away from the ReLU's kink, which a difference step would otherwise cross (the
    /// masks are checked against the reference above).
    @Test(arguments: KernelBuild.allCases, [cases[3], cases[4], cases[5]])
    func gradientsMatchFiniteDifferences(_ build: KernelBuild, _ c: Case) throws {
        try useKernels(build)
        defer { KernelBuild.endUseOnThisThread() }
        var v = Self.values(c, seed: 11)
        v.kernel = v.kernel.map { $0 / 10 }
        v.bias = v.bias.map { $0 + 4 }
        let analytic = Self.kernels(c, v).results
        try #require(analytic.y.allSatisfy { $0 > 1 })
        func loss(_ v: Values) -> Double { zip(Self.kernels(c, v).results.y, v.dy).reduce(0) { $0 + $1.0 * Double($1.1) } }
        func check(_ what: String, _ path: WritableKeyPath<Values, [Float]>, _ gradient: [Double], where use: (Int) -> Bool = { _ in true }) {
            var worst = 0.0
            let h: Float = 1e-3
            for i in v[keyPath: path].indices where use(i) {
                let saved = v[keyPath: path][i]
                v[keyPath: path][i] = saved + h
                let up = loss(v)
                v[keyPath: path][i] = saved - h
                let down = loss(v)
                v[keyPath: path][i] = saved
                worst = max(worst, abs((up - down) / Double(2 * h) - gradient[i]) / (abs(gradient[i]) + 0.5))
            }
            #expect(worst < 1e-2, "\(build), \(c): \(what) disagrees with finite differences by \(worst)")
        }
        let x = v.x
        check("input gradient", \.x, analytic.inputGradient, where: { x[$0] > 0 })
        check("kernel gradient", \.kernel, analytic.kernelGradient)
        check("bias gradient", \.bias, analytic.biasGradient)
    }

    /// The AVX-512 build sums every output in the AVX2 build's order (one FMA chain, taps then
    /// inputs), so it must give the same bits, which lets machines of either kind agree.
    @Test(arguments: cases)
    func avx512GivesTheAVX2BuildsBits(_ c: Case) throws {
        let v = Self.values(c, seed: 5)
        func results(_ build: KernelBuild) throws -> Results {
            try useKernels(build)
            defer { KernelBuild.endUseOnThisThread() }
            return Self.kernels(c, v).results
        }
        let avx2 = try results(.avx2), avx512 = try results(.avx512)
        for (name, a, b) in [("output", avx2.y, avx512.y), ("kernel gradient", avx2.kernelGradient, avx512.kernelGradient),
                             ("bias gradient", avx2.biasGradient, avx512.biasGradient),
                             ("input gradient", avx2.inputGradient, avx512.inputGradient)] {
            #expect(a.map(\.bitPattern) == b.map(\.bitPattern), "\(c): \(name)")
        }
    }

    /// Helpers that come after the layer has looked for them `arrival` times, and take the
    /// pieces in a scrambled order, on two threads (with the calling thread's kernel build).
    final class ScramblingHelpers: Helpers, @unchecked Sendable {
        let arrival: Int
        private(set) var looks = 0, pieces = 0

        init(arrival: Int) { self.arrival = arrival }

        var areWaiting: Bool {
            looks += 1
            return looks > arrival
        }

        func share(pieces count: Int, _ piece: (Int) -> Void) {
            pieces += count
            looks = 0   // the next layer's helpers come as late
            // Odd pieces backwards on one thread, even ones forwards on the other.
            let orders = [Array((0..<count).filter { $0 % 2 == 1 }.reversed()), (0..<count).filter { $0 % 2 == 0 }]
            let build = KernelBuild.inUse, caller = pthread_self()
            withoutActuallyEscaping(piece) { piece in
                nonisolated(unsafe) let piece = piece
                DispatchQueue.concurrentPerform(iterations: 2) { thread in
                    // The caller's thread (which may run either) keeps the build it has.
                    let other = pthread_equal(pthread_self(), caller) == 0
                    if other { try? build.useOnThisThread() }
                    defer { if other { KernelBuild.endUseOnThisThread() } }
                    for i in orders[thread] { piece(i) }
                }
            }
        }
    }

    /// Helpers that come at the start of an upsampling layer, after its first image or before
    /// its last two, and take its pieces in any order on any thread, change no bit of its
    /// outputs and gradients, in either precision.
    @Test(arguments: [(KernelBuild.baseline, Precision.fp32), (.avx2, .fp32), (.avx512, .fp32),
                      (.avx2, .bf16), (.avx512bf16, .bf16)],
          cases.filter { $0.stride == 2 } + [Case(input: GridShape(height: 14, width: 14, channels: 64), outputs: 32,
                                                  stride: 2, batch: 5)])
    func helpersNeverShowInTheBits(_ kernels: (build: KernelBuild, precision: Precision), _ c: Case) throws {
        let (build, precision) = kernels
        try useKernels(build)
        defer { KernelBuild.endUseOnThisThread() }
        let v = Self.values(c, seed: 3)
        let alone = Self.kernels(c, v, precision: precision).results
        for arrival in Set([0, 1, max(0, c.batch - 2)]) {
            let helpers = ScramblingHelpers(arrival: arrival)
            let helped = Self.kernels(c, v, precision: precision, helpers: helpers).results
            #expect(helpers.pieces > 0 || c.batch - arrival < 2, "\(c): no pieces were offered")
            for (name, a, b) in [("output", alone.y, helped.y), ("kernel gradient", alone.kernelGradient, helped.kernelGradient),
                                 ("bias gradient", alone.biasGradient, helped.biasGradient),
                                 ("input gradient", alone.inputGradient, helped.inputGradient)] {
                #expect(a.map(\.bitPattern) == b.map(\.bitPattern),
                        "\(build), \(precision), \(c), helpers after \(arrival) looks: \(name)")
            }
        }
    }

    // bfloat16: the upsampling layers only (the output layer stays float32).
    static let upsamplingCases = cases.filter { $0.stride == 2 }

    /// Each build with bf16 kernels computes, to float32 accumulation error, the products of
    /// the bf16-rounded factors; and not the float32 ones (the rounding shows).
    @Test(arguments: KernelBuild.allCases.filter(\.runsBF16), upsamplingCases)
    func bf16MatchesTheFloat64DefinitionOfItsRoundedFactors(_ build: KernelBuild, _ c: Case) throws {
        try useKernels(build)
        defer { KernelBuild.endUseOnThisThread() }
        let v = Self.values(c, seed: UInt64(c.input.count * 17 + c.outputs))
        let expected = Self.reference(c, v, precision: .bf16), unrounded = Self.reference(c, v)
        let (got, bordersKept) = Self.kernels(c, v, precision: .bf16)
        #expect(bordersKept, "a kernel wrote outside its grids' interiors")
        for (name, mine, theirs, fp32) in [
            ("output", got.y, expected.y, unrounded.y),
            ("kernel gradient", got.kernelGradient, expected.kernelGradient, unrounded.kernelGradient),
            ("input gradient", got.inputGradient, expected.inputGradient, unrounded.inputGradient)] {
            let error = Self.relativeError(mine, theirs)
            #expect(error < 2e-6, "\(build), \(c): bf16 \(name) differs by \(error)")
            #expect(Self.relativeError(mine, fp32) > 1e-4, "\(build), \(c): bf16 \(name) is as close to float32's as if nothing were rounded")
        }
        #expect(Self.relativeError(got.biasGradient, expected.biasGradient) < 2e-6, "\(build), \(c): bias gradient")
        #expect(zip(got.inputGradient, v.x).allSatisfy { $1 != 0 || $0 == 0 })
        #expect(Self.kernels(c, v, precision: .bf16).results == got)
    }

    /// Every build with bf16 kernels gives the same bits: vdpbf16ps (avx512bf16) and its
    /// emulation by two fused multiply-adds under flush-to-zero (avx2, avx512). The second set
    /// of values is scaled so that many products and sums fall below float32's smallest normal,
    /// where the flush decides the bits; the third so that many inputs are subnormal (the
    /// conversions flush them).
    @Test(arguments: upsamplingCases, [Float(1), 3e-19, 1e-38])
    func bf16BuildsGiveEachOthersBits(_ c: Case, scale: Float) throws {
        let builds = KernelBuild.allCases.filter { $0.runsBF16 && $0.isAvailable }
        guard builds.count > 1 else { try Test.cancel("this CPU runs one bf16 build: nothing to compare") }
        var v = Self.values(c, seed: 9)
        v.x = v.x.map { $0 * scale }
        v.kernel = v.kernel.map { $0 * scale }
        v.bias = v.bias.map { $0 * scale * scale }
        v.dy = v.dy.map { $0 * scale }
        func results(_ build: KernelBuild) throws -> Results {
            try useKernels(build)
            defer { KernelBuild.endUseOnThisThread() }
            return Self.kernels(c, v, precision: .bf16).results
        }
        let first = try results(builds[0])
        if scale == 3e-19 {
            #expect(first.y.contains { $0 != 0 && abs($0) < 1e-35 }, "the scaled case must reach float32's smallest normals")
        }
        for build in builds.dropFirst() {
            let other = try results(build)
            for (name, a, b) in [("output", first.y, other.y), ("kernel gradient", first.kernelGradient, other.kernelGradient),
                                 ("bias gradient", first.biasGradient, other.biasGradient),
                                 ("input gradient", first.inputGradient, other.inputGradient)] {
                #expect(a.map(\.bitPattern) == b.map(\.bitPattern), "\(c), scale \(scale): \(name) of \(build) differs from \(builds[0])'s")
            }
        }
    }

    /// The baseline build (no fused multiply-adds) has no bf16 kernels, and says so.
    @Test func onlyTheBaselineLacksBF16() {
        #expect(KernelBuild.allCases.filter { !$0.runsBF16 } == [.baseline])
    }
}
