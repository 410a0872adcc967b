import Kernels
import Testing
import TestSupport

/// `gemm` (the C kernels' matrix product) at the model's shapes (micro-batch 16) and at shapes
/// that leave partial tiles of every build (6 or 14 rows, 8 or 16 lanes, 16 or 32 columns, panels
/// of 256 rows of op(B)): against a float64 reference, and bit for bit against the order its
/// contract fixes, the chain over p of `c + a * (alpha * b)`, fused in the AVX2 and AVX-512
/// builds, which so give each other's bits. Builds this CPU lacks are skipped by name.
struct MatrixProductTests {
    struct Case: Sendable, CustomStringConvertible {
        let transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int, alpha: Float, beta: Float
        init(_ transposeA: Bool, _ transposeB: Bool, _ m: Int, _ n: Int, _ k: Int, alpha: Float = 1, beta: Float = 0) {
            self.transposeA = transposeA; self.transposeB = transposeB
            self.m = m; self.n = n; self.k = k; self.alpha = alpha; self.beta = beta
        }
        // Row strides with a few floats of padding, so that a kernel reading or writing past a
        // row's end shows.
        var lda: Int { (transposeA ? m : k) + 3 }
        var ldb: Int { (transposeB ? k : n) + 2 }
        var ldc: Int { n + 5 }
        var description: String {
            "\(transposeA ? "Aᵀ" : "A")\(transposeB ? "Bᵀ" : "B") \(m)x\(n)x\(k), alpha \(alpha), beta \(beta)"
        }
    }

    static let cases: [Case] = [
        // The model's products, micro-batch 16, latent 2: forward, weight gradient, input gradient.
        Case(false, false, 256, 32, 9), Case(true, false, 9, 32, 256, beta: 1),                  // conv1
        Case(false, false, 64, 64, 288), Case(true, false, 288, 64, 64, beta: 1), Case(false, true, 64, 288, 64), // conv2
        Case(false, false, 16, 16, 256), Case(true, false, 256, 16, 16, beta: 1), Case(false, true, 16, 256, 16), // dense
        Case(false, false, 16, 2, 16), Case(true, false, 16, 2, 16, beta: 1), Case(false, true, 16, 16, 2, beta: 1), // heads
        Case(false, false, 16, 3136, 2), Case(true, false, 2, 3136, 16, beta: 1), Case(false, true, 16, 2, 3136), // decoder dense
        // Partial tiles and panels, and the general alpha and beta.
        Case(false, false, 1, 1, 1), Case(true, true, 29, 37, 300, alpha: -0.75, beta: 0.5),
        Case(false, true, 15, 17, 513, beta: 1), Case(true, false, 7, 33, 5, alpha: 2),
        Case(false, false, 13, 9, 257, beta: 1), Case(false, false, 3, 4, 0, beta: 0.5), Case(false, false, 5, 6, 0),
    ]

    struct Values {
        var a: [Float], b: [Float], c: [Float]
        func opA(_ c: Case, _ i: Int, _ p: Int) -> Float { c.transposeA ? a[p * c.lda + i] : a[i * c.lda + p] }
        func opB(_ c: Case, _ p: Int, _ j: Int) -> Float { c.transposeB ? b[j * c.ldb + p] : b[p * c.ldb + j] }
    }

    /// Random operands; C holds NaN where beta is 0 (it must not be read) and in its padding.
    static func values(_ c: Case) -> Values {
        var rng = SplitMix64(state: UInt64(c.m * 1_000_003 + c.n * 1009 + c.k))
        func random(_ n: Int) -> [Float] { (0..<n).map { _ in .random(in: -1...1, using: &rng) } }
        var values = Values(a: random((c.transposeA ? c.k : c.m) * c.lda), b: random((c.transposeB ? c.n : c.k) * c.ldb),
                            c: [Float](repeating: .nan, count: c.m * c.ldc))
        if c.beta != 0 {
            for i in 0..<c.m { for j in 0..<c.n { values.c[i * c.ldc + j] = .random(in: -1...1, using: &rng) } }
        }
        return values
    }

    static func product(_ c: Case, _ v: Values) -> [Float] {
        var out = v.c
        gemm(transposeA: c.transposeA, transposeB: c.transposeB, m: c.m, n: c.n, k: c.k, alpha: c.alpha,
             v.a, lda: c.lda, v.b, ldb: c.ldb, beta: c.beta, &out, ldc: c.ldc)
        return out
    }

    /// The contract's order, element by element: scale by beta, then p = 0, 1, ..., k - 1.
    static func chain(_ c: Case, _ v: Values, fused: Bool) -> [Float] {
        var out = v.c
        for i in 0..<c.m {
            for j in 0..<c.n {
                var sum = c.beta == 0 ? 0 : c.beta == 1 ? v.c[i * c.ldc + j] : v.c[i * c.ldc + j] * c.beta
                for p in 0..<c.k {
                    let (x, y) = (v.opA(c, i, p), c.alpha * v.opB(c, p, j))
                    sum = fused ? sum.addingProduct(x, y) : sum + x * y
                }
                out[i * c.ldc + j] = sum
            }
        }
        return out
    }

    @Test(arguments: KernelBuild.allCases, cases)
    func matchesTheFloat64ReferenceAndItsOrder(_ build: KernelBuild, _ c: Case) throws {
        try useKernels(build)
        defer { KernelBuild.endUseOnThisThread() }
        let v = Self.values(c)
        let got = Self.product(c, v)
        for i in 0..<c.m {
            for j in 0..<c.n {
                var exact = c.beta == 0 ? 0 : Double(c.beta) * Double(v.c[i * c.ldc + j]), magnitude = abs(exact)
                for p in 0..<c.k {
                    let term = Double(v.opA(c, i, p)) * Double(c.alpha) * Double(v.opB(c, p, j))
                    exact += term
                    magnitude += abs(term)
                }
                // The float32 sum's own bound: about one rounding a term.
                let error = abs(Double(got[i * c.ldc + j]) - exact)
                #expect(error <= Double(c.k + 2) * Double(Float.ulpOfOne) * magnitude,
                        "\(build), \(c): C[\(i)][\(j)] = \(got[i * c.ldc + j]), float64 \(exact)")
            }
        }
        let padding = (0..<c.m).flatMap { i in (c.n..<c.ldc).map { i * c.ldc + $0 } }
        #expect(padding.allSatisfy { got[$0].isNaN }, "\(build), \(c): written past a row of C")
        let order = Self.chain(c, v, fused: build.fusesMultiplyAdd)
        #expect(got.map(\.bitPattern) == order.map(\.bitPattern), "\(build), \(c): not the contract's order of sums")
    }

    @Test(arguments: cases)
    func theAVX2AndAVX512BuildsGiveTheSameBits(_ c: Case) throws {
        let v = Self.values(c)
        try useKernels(.avx2)
        let avx2 = Self.product(c, v)
        try useKernels(.avx512)
        defer { KernelBuild.endUseOnThisThread() }
        let avx512 = Self.product(c, v)
        #expect(avx2.map(\.bitPattern) == avx512.map(\.bitPattern), "\(c)")
    }
}
