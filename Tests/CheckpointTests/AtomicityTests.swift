import Checkpoint
import Foundation
import Testing
import TestSupport
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A failed write leaves whatever was at the target as it was and no temporary file behind.
@Suite struct AtomicityTests {
    private func contents(_ directory: URL) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: directory.path).sorted()
    }

    @Test func badTensorListLeavesExistingFile() throws {
        try withTemporaryDirectory { directory in
            let url = directory.appendingPathComponent("model.safetensors")
            try write(sampleTensors, metadata: sampleMetadata, to: url)
            let before = try Data(contentsOf: url)

            expectRefusal(url, "has shape [4,4] but 3 values") {
                try write(sampleTensors + [Tensor(name: "bad", shape: [4, 4], values: [1, 2, 3])], to: url)
            }
            #expect(try Data(contentsOf: url) == before)
            #expect(try contents(directory) == ["model.safetensors"])
        }
    }

    @Test func failedRenameRemovesTheTemporaryFile() throws {
        try withTemporaryDirectory { directory in
            // A non-empty directory at the target cannot be renamed over.
            let url = directory.appendingPathComponent("model.safetensors")
            try FileManager.default.createDirectory(at: url, withIntermediateDirectories: false)
            try Data("keep".utf8).write(to: url.appendingPathComponent("inside"))

            expectRefusal(url, "cannot rename the temporary file into place") {
                try write(sampleTensors, to: url)
            }
            #expect(try contents(directory) == ["model.safetensors"])
            #expect(try contents(url) == ["inside"])
        }
    }

    @Test func missingDirectoryIsReported() throws {
        try withTemporaryDirectory { directory throws in
            let url = directory.appendingPathComponent("absent/model.safetensors")
            expectRefusal(url, "cannot create a temporary file in \(directory.path)/absent: No such file or directory") {
                try write(sampleTensors, to: url)
            }
            #expect(try contents(directory).isEmpty)
        }
    }

    // Root may write anywhere, so permissions cannot make this fail for root.
    @Test(.enabled(if: getuid() != 0, "permissions do not stop root"))
    func readOnlyDirectoryLeavesExistingFile() throws {
        try withTemporaryDirectory { directory in
            let url = directory.appendingPathComponent("model.safetensors")
            try write(sampleTensors, to: url)
            let before = try Data(contentsOf: url)
            try FileManager.default.setAttributes([.posixPermissions: 0o555], ofItemAtPath: directory.path)
            defer { try? FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: directory.path) }

            expectRefusal(url, "cannot create a temporary file") {
                try write([Tensor(name: "other", shape: [1], values: [1])], to: url)
            }
            #expect(try Data(contentsOf: url) == before)
            #expect(try contents(directory) == ["model.safetensors"])
        }
    }

    @Test func replacingKeepsNoTemporaryFiles() throws {
        try withTemporaryDirectory { directory in
            let url = directory.appendingPathComponent("model.safetensors")
            for step in 0..<3 {
                try write([Tensor(name: "w", shape: [1], values: [Float(step)])], metadata: ["step": "\(step)"], to: url)
            }
            #expect(try contents(directory) == ["model.safetensors"])
            #expect(try SafeTensors.read(url, requireChecksum: true).metadata["step"] == "2")
        }
    }
}
