import CKernels

/// The builds of the hand-written C kernels (`ckernels.h`): the best one the CPU runs is used
/// unless `VAE_KERNELS` names another, so that one machine can run, test and compare them all.
public enum KernelBuild: Int32, CaseIterable, Sendable, CustomStringConvertible {
    case baseline = 0, avx2 = 1, avx512 = 2, avx512bf16 = 3

    /// The environment variable that chooses a build: `baseline`, `avx2`, `avx512` or `avx512bf16`.
    public static let environmentVariable = "VAE_KERNELS"

    var c: vae_kernel_build { vae_kernel_build(rawValue: UInt32(rawValue)) }

    /// "baseline", "avx2", "avx512", "avx512bf16".
    public var description: String { String(cString: vae_kernel_build_name(c)) }

    /// What the build needs of the CPU, for messages.
    public var requirement: String {
        switch self {
        case .baseline: "nothing beyond the compiler's default target"
        case .avx2: "x86-64-v3: AVX2, FMA, BMI1/2, F16C, LZCNT, MOVBE"
        case .avx512: "x86-64-v4: AVX-512 F, BW, CD, DQ and VL"
        case .avx512bf16: "x86-64-v4 and AVX512_BF16"
        }
    }

    /// Whether the build has the bf16 kernels: natively on `avx512bf16`, emulated bit for bit
    /// by the other builds with fused multiply-adds; the baseline has none.
    public var runsBF16: Bool { vae_kernel_build_runs_bf16(c) }

    /// Whether the build computes in `precision` (every build runs fp32).
    public func runs(_ precision: Precision) -> Bool { precision == .fp32 || runsBF16 }

    /// Whether the build fuses multiply-adds: builds that do give each other's bits (every
    /// output is the same chain of fused multiply-adds), the baseline's differ from theirs.
    public var fusesMultiplyAdd: Bool { self != .baseline }

    /// Whether this CPU runs the build.
    public var isAvailable: Bool { vae_kernel_build_available(c) }

    /// The fastest build this CPU runs.
    public static var best: KernelBuild { KernelBuild(rawValue: Int32(vae_kernel_build_best().rawValue))! }

    /// The build the kernels use on this thread.
    public static var inUse: KernelBuild { KernelBuild(rawValue: Int32(vae_kernel_build_in_use().rawValue))! }

    public enum Choice: Error, CustomStringConvertible {
        case unknown(String), unavailable(KernelBuild)
        public var description: String {
            let available = KernelBuild.allCases.filter(\.isAvailable).map(\.description).joined(separator: ", ")
            switch self {
            case .unknown(let name):
                return "\(KernelBuild.environmentVariable)=\(name) is not a kernel build (baseline, avx2, avx512 or avx512bf16)"
            case .unavailable(let build):
                return "\(KernelBuild.environmentVariable)=\(build): this CPU lacks the \(build) build's instructions (\(build.requirement)); it runs: \(available)"
            }
        }
    }

    /// Uses the build `VAE_KERNELS` names for the whole process (the best one if it is unset or
    /// empty); throws, changing nothing, if the name is unknown or the CPU lacks the build.
    public static func useFromEnvironment(_ environment: [String: String]) throws {
        guard let name = environment[environmentVariable], !name.isEmpty else { return }
        guard let build = allCases.first(where: { $0.description == name }) else { throw Choice.unknown(name) }
        guard vae_kernel_build_use(build.c) else { throw Choice.unavailable(build) }
    }

    /// Uses this build's kernels on the calling thread, over the process's build, until
    /// `endUseOnThisThread()` (tests compare builds side by side in one process). Throws,
    /// changing nothing, if the CPU lacks the build.
    public func useOnThisThread() throws {
        guard vae_kernel_build_use_on_this_thread(rawValue) else { throw Choice.unavailable(self) }
    }

    /// The calling thread uses the process's build again.
    public static func endUseOnThisThread() { _ = vae_kernel_build_use_on_this_thread(-1) }
}
