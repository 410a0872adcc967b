import Distributed
import Foundation
import Kernels

/// What decides each rank's bits beyond the run's settings, gathered at start-up with its host:
/// the kernel build (FMA or not: avx2, avx512 and avx512bf16 give each other's bits) and the C library's log,
/// sin and cos, which draw the noise (glibc takes FMA variants on CPUs with FMA and AVX2; another version
/// may round otherwise). Ranks that differ in these would sum gradients of different bits, so such a job
/// is refused before its first step rather than left to drift from the one-process result.
struct RankKernels: CustomStringConvertible {
    struct Rank: Equatable {
        let host: String, build: KernelBuild, mathLibrary: String, mathLibraryFusesMultiplyAdd: Bool
        /// What decides the bits.
        var arithmetic: [String] { ["\(build.fusesMultiplyAdd)", mathLibrary, "\(mathLibraryFusesMultiplyAdd)"] }
    }
    let ranks: [Rank]

    /// Bytes of a host name and of the library's version that travel (longer ones are cut).
    private static let hostBytes = 64, libraryBytes = 16
    private static var slotWidth: Int { 2 + (hostBytes + libraryBytes) / 8 }

    /// Every rank fills its own slot and the sum gives each rank all of them.
    static func gather(_ communicator: Communicator) throws -> RankKernels {
        var slots = [Int64](repeating: 0, count: communicator.size * slotWidth)
        let mine = communicator.rank * slotWidth
        slots[mine] = Int64(KernelBuild.inUse.rawValue)
        slots[mine + 1] = MathLibrary.fusesMultiplyAdd ? 1 : 0
        let host = Array(hostName().utf8.prefix(hostBytes)), library = Array(MathLibrary.version.utf8.prefix(libraryBytes))
        let text = host + [UInt8](repeating: 0, count: hostBytes - host.count) + library
        for (index, byte) in text.enumerated() { slots[mine + 2 + index / 8] |= Int64(byte) << (8 * (index % 8)) }
        try slots.withUnsafeMutableBufferPointer { try communicator.allReduceSum($0, label: "start-up agreement") }
        return RankKernels(ranks: (0..<communicator.size).map { rank in
            let slot = Array(slots[(rank * slotWidth)..<((rank + 1) * slotWidth)])
            let bytes = slot.dropFirst(2).flatMap { word in (0..<8).map { UInt8(truncatingIfNeeded: word >> (8 * $0)) } }
            func string(_ part: ArraySlice<UInt8>) -> String { String(decoding: part.prefix { $0 != 0 }, as: UTF8.self) }
            return Rank(host: string(bytes[0..<hostBytes]), build: KernelBuild(rawValue: Int32(slot[0])) ?? .baseline,
                        mathLibrary: string(bytes[hostBytes...]), mathLibraryFusesMultiplyAdd: slot[1] != 0)
        })
    }

    private static func hostName() -> String {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count - 1) == 0 else { return "?" }
        return String(cString: buffer)
    }

    /// Refuses a job whose ranks would not compute the same bits.
    func requireSameBits() throws {
        guard Set(ranks.map(\.arithmetic)).count > 1 else { return }
        let each = ranks.enumerated().map { rank, r in
            "rank \(rank) on \(r.host) runs \(r.build) with \(r.mathLibrary)\(r.mathLibraryFusesMultiplyAdd ? "" : " (no FMA)")"
        }
        throw AgreedFailure("ranks would compute different bits: \(each.joined(separator: ", ")); the avx2, avx512 and avx512bf16 kernel builds give the same bits, the baseline's differ, and so do C libraries of other versions or without FMA: give every rank a build of one kind with \(KernelBuild.environmentVariable) (baseline runs on any CPU), on hosts of one C library version that all run it with FMA or all without")
    }

    /// Refuses a job in a precision that a rank's kernel build cannot run (the baseline has no
    /// bf16 kernels).
    func require(_ precision: Precision) throws {
        guard let (rank, r) = ranks.enumerated().first(where: { !$0.element.build.runs(precision) }) else { return }
        let where_ = ranks.count > 1 ? "rank \(rank) on \(r.host) runs" : "this process runs"
        throw AgreedFailure("--precision \(precision) needs fused multiply-adds (AVX2 or AVX-512; AVX512_BF16 runs it natively): \(where_) the \(r.build) kernel build, which has no bf16 kernels; train with --precision fp32, or choose another build with \(KernelBuild.environmentVariable)")
    }

    /// "avx512", or each build with its ranks when they differ ("avx512 on ranks 0, 2, avx2 on rank 1").
    var description: String {
        let builds = ranks.map(\.build)
        let distinct = builds.reduce(into: [KernelBuild]()) { if !$0.contains($1) { $0.append($1) } }
        guard distinct.count > 1 else { return distinct.first.map(\.description) ?? "" }
        return distinct.map { build in
            let holders = builds.indices.filter { builds[$0] == build }.map(String.init)
            return "\(build) on rank\(holders.count > 1 ? "s" : "") \(holders.joined(separator: ", "))"
        }.joined(separator: ", ")
    }
}
