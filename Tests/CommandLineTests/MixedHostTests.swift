import Foundation
import Testing

/// Hosts that differ, as a real cluster's do, stood in for by ranks with different environments
/// under real `mpirun`: a BLAS set up differently (`OPENBLAS_CORETYPE`, which changed the bits
/// while the encoder went through OpenBLAS) and the C kernels' build (AVX-512 on one rank, AVX2
/// on the other; in bf16, vdpbf16ps on one and its emulation on the other) change nothing in the
/// bits; a rank on the baseline
/// build (no FMA) beside one with FMA is refused before the first step, naming each rank's host
/// and kernels.
@Suite(.serialized)
struct MixedHostTests {
    /// `mpirun` with one rank a part, each started through `env` with its own variables
    /// (`-u NAME` removes one) so that the ranks differ as hosts would.
    static func mpirun(_ parts: [(environment: [String], arguments: [String])]) throws -> VAEProcess.Result {
        var arguments = ["mpirun", "--allow-run-as-root", "--oversubscribe", "--bind-to", "none"]
        for (index, part) in parts.enumerated() {
            if index > 0 { arguments.append(":") }
            arguments += ["-n", "1", "env"] + part.environment + [VAEProcess.executable.path] + part.arguments
        }
        return try VAEProcess.start(URL(fileURLWithPath: "/usr/bin/env"), arguments).wait()
    }

    static let hostName: String = {
        var name = [CChar](repeating: 0, count: 256)
        return gethostname(&name, name.count - 1) == 0 ? String(cString: name) : ""
    }()

    static func requireBuilds(_ builds: String...) throws {
        let missing = builds.flatMap { KernelBuildTests.requirements[$0]! }.filter { !KernelBuildTests.cpuFlags.contains($0) }
        if !missing.isEmpty {
            try Test.cancel("this CPU lacks \(missing.joined(separator: ", ")), which \(builds.joined(separator: " and ")) need: not checked here")
        }
    }

    @Test func ranksWithDifferentBLASAndFMABuildsGiveTheOneProcessBits() throws {
        try Self.requireBuilds("avx2", "avx512")
        let folder = try VAEProcess.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        let run = folder.appendingPathComponent("run")
        let arguments = ["train", "--run-dir", run.path, "--epochs", "2"] + DistributedTests.job
        let result = try Self.mpirun([
            (["OPENBLAS_CORETYPE=Haswell", "VAE_KERNELS=avx512"], arguments),
            (["-u", "OPENBLAS_CORETYPE", "VAE_KERNELS=avx2"], arguments),
        ])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("C kernels avx512 on rank 0, avx2 on rank 1"), "the header names both: \(result.stdout)")
        let mine = try DistributedTests.tensors(run), reference = try DistributedTests.tensors(DistributedTests.reference)
        #expect(mine.count == reference.count && !reference.isEmpty)
        for (name, values) in reference {
            #expect(mine[name].map { $0.map(\.bitPattern) } == values.map(\.bitPattern), "\(name) differs from one process")
        }
        #expect(try DistributedTests.metrics(run) == DistributedTests.metrics(DistributedTests.reference), "metrics differ")
    }

    /// In bf16 a host with AVX512_BF16 (vdpbf16ps) and one without (the AVX2 build's emulation)
    /// compute the same bits: a job of one of each ends as one process on the first does.
    @Test func bf16RanksWithAndWithoutAVX512BF16GiveTheOneProcessBits() throws {
        try Self.requireBuilds("avx2", "avx512bf16")
        let folder = try VAEProcess.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        let one = folder.appendingPathComponent("one"), mixed = folder.appendingPathComponent("mixed")
        let arguments = ["train", "--epochs", "2", "--precision", "bf16"] + DistributedTests.job
        let single = try VAEProcess.start(VAEProcess.executable, arguments + ["--run-dir", one.path],
                                          environment: ["VAE_KERNELS": "avx512bf16"]).wait()
        #expect(single.status == 0, "\(single.stderr)")
        let result = try Self.mpirun([(["VAE_KERNELS=avx512bf16"], arguments + ["--run-dir", mixed.path]),
                                      (["VAE_KERNELS=avx2"], arguments + ["--run-dir", mixed.path])])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("C kernels avx512bf16 on rank 0, avx2 on rank 1"), "the header names both: \(result.stdout)")
        let mine = try DistributedTests.tensors(mixed), reference = try DistributedTests.tensors(one)
        #expect(mine.count == reference.count && !reference.isEmpty)
        for (name, values) in reference {
            #expect(mine[name].map { $0.map(\.bitPattern) } == values.map(\.bitPattern), "\(name) differs from one process")
        }
        #expect(try DistributedTests.metrics(mixed) == DistributedTests.metrics(one), "metrics differ")
    }

    @Test func aRankOnTheBaselineBuildBesideFMAIsRefused() throws {
        try Self.requireBuilds("avx2")
        let folder = try VAEProcess.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        let run = folder.appendingPathComponent("run")
        let arguments = ["train", "--run-dir", run.path, "--epochs", "1"] + DistributedTests.job
        let result = try Self.mpirun([(["VAE_KERNELS=avx2"], arguments), (["VAE_KERNELS=baseline"], arguments)])
        let host = Self.hostName
        #expect(result.status != 0)
        // One line, from rank 0 (mpirun may add its own about the exit status).
        let lines = result.stderrLines.filter { $0.hasPrefix("vae:") }
        #expect(lines.count == 1, "\(result.stderr)")
        for fragment in ["vae: ranks would compute different bits", "rank 0 on \(host) runs avx2 with glibc",
                         "rank 1 on \(host) runs baseline with glibc", "VAE_KERNELS"] {
            #expect(lines.first?.contains(fragment) == true, "lacks '\(fragment)': \(result.stderr)")
        }
        #expect(!FileManager.default.fileExists(atPath: run.path), "refused before anything was written")
    }

    /// glibc's exp and log round otherwise without their FMA variants: a rank whose C library
    /// does without them (as on a CPU without FMA) is refused, whatever its kernels.
    @Test func aRankWhoseMathLibraryDoesWithoutFMAIsRefused() throws {
        try Self.requireBuilds("avx2")
        let folder = try VAEProcess.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        let run = folder.appendingPathComponent("run")
        let arguments = ["train", "--run-dir", run.path, "--epochs", "1"] + DistributedTests.job
        let result = try Self.mpirun([(["VAE_KERNELS=avx2"], arguments),
                                      (["VAE_KERNELS=avx2", "GLIBC_TUNABLES=glibc.cpu.hwcaps=-AVX2,-FMA"], arguments)])
        #expect(result.status != 0)
        let lines = result.stderrLines.filter { $0.hasPrefix("vae:") }
        #expect(lines.count == 1, "\(result.stderr)")
        #expect(lines.first?.contains("rank 1 on \(Self.hostName) runs avx2 with glibc") == true, "\(result.stderr)")
        #expect(lines.first?.contains("(no FMA)") == true, "\(result.stderr)")
        #expect(!FileManager.default.fileExists(atPath: run.path), "refused before anything was written")
    }
}
