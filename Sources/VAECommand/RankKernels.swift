import Distributed
import Foundation
import Kernels

/// Each rank's host and kernel build, gathered at start-up: ranks whose builds round
/// differently (FMA or not) would sum gradients of different bits, so such a job is refused
/// before its first step rather than left to drift from the one-process result.
struct RankKernels: CustomStringConvertible {
    let hosts: [String]
    let builds: [KernelBuild]

    /// Bytes of a host name that travel (longer names are cut).
    static let hostBytes = 64
    private static var slotWidth: Int { 1 + hostBytes / 8 }

    /// Every rank fills its own slot (build, then host name bytes) and the sum gives each rank all.
    static func gather(_ communicator: Communicator) throws -> RankKernels {
        var slots = [Int64](repeating: 0, count: communicator.size * slotWidth)
        let mine = communicator.rank * slotWidth
        slots[mine] = Int64(KernelBuild.inUse.rawValue)
        for (index, byte) in Array(hostName().utf8.prefix(hostBytes)).enumerated() {
            slots[mine + 1 + index / 8] |= Int64(byte) << (8 * (index % 8))
        }
        try slots.withUnsafeMutableBufferPointer { try communicator.allReduceSum($0, label: "start-up agreement") }
        var hosts: [String] = [], builds: [KernelBuild] = []
        for rank in 0..<communicator.size {
            let slot = slots[(rank * slotWidth)..<((rank + 1) * slotWidth)]
            builds.append(KernelBuild(rawValue: Int32(slot.first!)) ?? .baseline)
            let bytes = slot.dropFirst().flatMap { word in (0..<8).map { UInt8(truncatingIfNeeded: word >> (8 * $0)) } }
            hosts.append(String(decoding: bytes.prefix { $0 != 0 }, as: UTF8.self))
        }
        return RankKernels(hosts: hosts, builds: builds)
    }

    private static func hostName() -> String {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count - 1) == 0 else { return "?" }
        return String(cString: buffer)
    }

    /// Refuses a job whose ranks' builds do not all fuse multiply-adds, or all not.
    func requireSameBits() throws {
        guard Set(builds.map(\.fusesMultiplyAdd)).count > 1 else { return }
        let ranks = zip(hosts, builds).enumerated().map { "rank \($0.offset) on \($0.element.0) runs \($0.element.1)" }
        throw AgreedFailure("ranks would compute different bits: \(ranks.joined(separator: ", ")); the avx2 and avx512 kernel builds give the same bits, the baseline's differ: give every rank a build of one kind with \(KernelBuild.environmentVariable) (baseline runs on any CPU)")
    }

    /// "avx512", or each build with its ranks when they differ ("avx512 on ranks 0, 2, avx2 on rank 1").
    var description: String {
        let distinct = builds.reduce(into: [KernelBuild]()) { if !$0.contains($1) { $0.append($1) } }
        guard distinct.count > 1 else { return distinct.first.map(\.description) ?? "" }
        return distinct.map { build in
            let ranks = builds.indices.filter { builds[$0] == build }.map(String.init)
            return "\(build) on rank\(ranks.count > 1 ? "s" : "") \(ranks.joined(separator: ", "))"
        }.joined(separator: ", ")
    }
}
