import Foundation
import Testing

/// `VAE_KERNELS` forces a build of the hand-written kernels: each build this CPU runs trains (the
/// loss falls, the header names the build) and gives the same bits as 1 process and as 2 ranks;
/// a build it lacks is refused with one line, and that case is skipped by name. Which builds the
/// CPU runs is read from /proc/cpuinfo here, independently of the binary's own detection.
@Suite(.serialized)
struct KernelBuildTests {
    /// The CPU flags each build needs (x86-64-v3 and v4, as Linux names them).
    static let requirements: [String: [String]] = [
        "baseline": [],
        "avx2": ["avx2", "fma", "bmi1", "bmi2", "f16c", "abm", "movbe"],
        "avx512": ["avx512f", "avx512bw", "avx512cd", "avx512dq", "avx512vl"],
        "avx512bf16": ["avx512f", "avx512bw", "avx512cd", "avx512dq", "avx512vl", "avx512_bf16"],
    ]

    static let cpuFlags: Set<String> = {
        let info = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""
        guard let line = info.split(separator: "\n").first(where: { $0.hasPrefix("flags") }) else { return [] }
        return Set(line.split(separator: ":").last!.split(separator: " ").map(String.init))
    }()

    static func losses(_ run: URL) throws -> [Double] {
        try String(contentsOf: run.appendingPathComponent("metrics.jsonl"), encoding: .utf8)
            .split(separator: "\n").map { line in
                let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as! [String: Any]
                return try #require(object["loss"] as? Double)
            }
    }

    @Test(arguments: ["baseline", "avx2", "avx512", "avx512bf16"])
    func aForcedBuildTrainsAndRanksAgree(build: String) throws {
        let folder = try VAEProcess.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        let one = folder.appendingPathComponent("one"), two = folder.appendingPathComponent("two")
        let environment = ["VAE_KERNELS": build]
        let arguments = ["train", "--epochs", "2"] + DistributedTests.job
        let missing = Self.requirements[build]!.filter { !Self.cpuFlags.contains($0) }
        guard missing.isEmpty else {
            let refused = try VAEProcess.start(VAEProcess.executable, arguments + ["--run-dir", one.path],
                                               environment: environment).wait()
            expectRefusal(refused, "VAE_KERNELS=\(build)", "lacks")
            #expect(!FileManager.default.fileExists(atPath: one.path), "a refused run must not start")
            try Test.cancel("this CPU lacks the \(build) kernel build (no \(missing.joined(separator: ", "))): refused, as it should be")
        }

        let single = try VAEProcess.start(VAEProcess.executable, arguments + ["--run-dir", one.path],
                                          environment: environment).wait()
        #expect(single.status == 0, "\(single.stderr)")
        #expect(single.stdout.contains("C kernels \(build)"), "the header names the build: \(single.stdout)")
        let losses = try Self.losses(one)
        #expect(losses.count == 2 && losses[1] < losses[0], "the loss falls: \(losses)")

        let ranks = try VAEProcess.mpirun([(2, arguments + ["--run-dir", two.path])], environment: environment)
        #expect(ranks.status == 0, "\(ranks.stderr)")
        #expect(ranks.stdout.contains("C kernels \(build)"))
        let mine = try DistributedTests.tensors(two), reference = try DistributedTests.tensors(one)
        #expect(mine.count == reference.count && !reference.isEmpty)
        for (name, values) in reference {
            #expect(mine[name].map { $0.map(\.bitPattern) } == values.map(\.bitPattern), "\(build): \(name) differs between 1 process and 2 ranks")
        }
    }

    @Test func anUnknownBuildIsRefused() throws {
        let folder = try VAEProcess.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        let run = folder.appendingPathComponent("run")
        let result = try VAEProcess.start(VAEProcess.executable, ["train", "--epochs", "1", "--run-dir", run.path],
                                          environment: ["VAE_KERNELS": "avx1024"]).wait()
        expectRefusal(result, "VAE_KERNELS=avx1024", "baseline, avx2, avx512 or avx512bf16")
        #expect(!FileManager.default.fileExists(atPath: run.path))
    }
}
