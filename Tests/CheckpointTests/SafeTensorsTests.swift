import Checkpoint
import Foundation
import Testing
import TestSupport

@Suite struct SafeTensorsTests {
    @Test func roundTripKeepsValuesShapesOrderAndMetadata() throws {
        try withTemporaryDirectory { directory in
            let url = directory.appendingPathComponent("a.safetensors")
            try write(sampleTensors, metadata: sampleMetadata, to: url)
            let file = try SafeTensors.read(url, requireChecksum: true)

            #expect(file.url == url)
            #expect(file.checksumVerified)
            #expect(file.names == sampleTensors.map(\.name))
            for tensor in sampleTensors {
                #expect(file.shape(of: tensor.name) == tensor.shape)
                #expect(try file.values(of: tensor.name).map(\.bitPattern) == tensor.values.map(\.bitPattern))
            }
            for (key, value) in sampleMetadata {
                #expect(file.metadata[key] == value)
            }
            #expect(file.metadata["data_sha256"]?.count == 64)
            #expect(file.metadata.count == sampleMetadata.count + 1)

            // The header length field and the start of the data are multiples of 8.
            let bytes = try Data(contentsOf: url)
            #expect(bytes.prefix(8).enumerated().reduce(0) { $0 | UInt64($1.element) << (8 * $1.offset) } % 8 == 0)
        }
    }

    @Test func emptyTensorListAndEmptyMetadata() throws {
        try withTemporaryDirectory { directory in
            let url = directory.appendingPathComponent("empty.safetensors")
            try write([], to: url)
            let file = try SafeTensors.read(url, requireChecksum: true)
            #expect(file.names.isEmpty)
            #expect(Set(file.metadata.keys) == ["data_sha256"])
        }
    }

    @Test func writingTwiceGivesIdenticalBytes() throws {
        try withTemporaryDirectory { directory in
            let first = directory.appendingPathComponent("first.safetensors")
            let second = directory.appendingPathComponent("second.safetensors")
            try write(sampleTensors, metadata: sampleMetadata, to: first)
            try write(sampleTensors, metadata: sampleMetadata, to: second)
            #expect(try Data(contentsOf: first) == Data(contentsOf: second))

            // Rewriting over an existing file gives the same bytes again.
            try write(sampleTensors, metadata: sampleMetadata, to: first)
            #expect(try Data(contentsOf: first) == Data(contentsOf: second))
        }
    }

    @Test func givenChecksumIsReplaced() throws {
        try withTemporaryDirectory { directory in
            let url = directory.appendingPathComponent("a.safetensors")
            try write(sampleTensors, metadata: ["data_sha256": "stale"], to: url)
            let file = try SafeTensors.read(url, requireChecksum: true)
            #expect(file.metadata["data_sha256"] != "stale")
        }
    }

    @Test func copyChecksShapeAndDestination() throws {
        try withTemporaryDirectory { directory in
            let url = directory.appendingPathComponent("a.safetensors")
            let kernel = Tensor(name: "decoder.deconv3.kernel", shape: [3, 3, 1, 16], values: (0..<144).map(Float.init))
            try write([kernel], to: url)
            let file = try SafeTensors.read(url, requireChecksum: true)

            var destination = [Float](repeating: 0, count: 144)
            try destination.withUnsafeMutableBufferPointer {
                try file.copy(kernel.name, expectedShape: [3, 3, 1, 16], into: $0)
            }
            #expect(destination == kernel.values)

            var wrong = [Float](repeating: 0, count: 288)
            do {
                try wrong.withUnsafeMutableBufferPointer { try file.copy(kernel.name, expectedShape: [3, 3, 1, 32], into: $0) }
                Issue.record("a shape mismatch was accepted")
            } catch let error as CheckpointError {
                #expect(error.description == "\(url.path): tensor decoder.deconv3.kernel has shape [3,3,1,16], expected [3,3,1,32]")
            }
            expectRefusal(url, "the destination holds 100") {
                var short = [Float](repeating: 0, count: 100)
                try short.withUnsafeMutableBufferPointer { try file.copy(kernel.name, expectedShape: [3, 3, 1, 16], into: $0) }
            }
            #expect(wrong.allSatisfy { $0 == 0 })
        }
    }

    @Test func absentTensorIsNamed() throws {
        try withTemporaryDirectory { directory in
            let url = directory.appendingPathComponent("a.safetensors")
            try write(sampleTensors, to: url)
            let file = try SafeTensors.read(url, requireChecksum: true)
            #expect(file.shape(of: "encoder.dense.kernel") == nil)
            expectRefusal(url, "has no tensor encoder.dense.kernel") { _ = try file.values(of: "encoder.dense.kernel") }
            expectRefusal(url, "has no tensor encoder.dense.kernel") {
                var buffer = [Float](repeating: 0, count: 4)
                try buffer.withUnsafeMutableBufferPointer { try file.copy("encoder.dense.kernel", expectedShape: [4], into: $0) }
            }
        }
    }

    @Test func kerasReferenceReadsWithoutChecksumOnlyWhenAllowed() throws {
        let url = URL(fileURLWithPath: #filePath)
            .deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("ModelTests/Fixtures/keras-reference.safetensors")
        let file = try SafeTensors.read(url, requireChecksum: false)
        #expect(!file.checksumVerified)
        #expect(file.metadata["latent_dim"] == "2")
        #expect(file.metadata["data_sha256"] == nil)
        #expect(file.shape(of: "encoder.conv1.kernel") == [3, 3, 1, 32])
        #expect(file.shape(of: "decoder.deconv2.kernel") == [3, 3, 32, 64])
        #expect(try file.values(of: "decoder.dense.kernel").count == 2 * 3136)
        #expect(file.names.first == "decoder.deconv1.bias")

        do {
            _ = try SafeTensors.read(url, requireChecksum: true)
            Issue.record("the Keras reference was accepted as a vae checkpoint")
        } catch let error as CheckpointError {
            #expect(error.description == "\(url.path): has no data_sha256; not a checkpoint written by vae")
        }
    }

    @Test func refusesToWriteBadTensorLists() throws {
        try withTemporaryDirectory { directory throws in
            let url = directory.appendingPathComponent("a.safetensors")
            expectRefusal(url, "tensor a has shape [2,2] but 3 values") {
                try write([Tensor(name: "a", shape: [2, 2], values: [1, 2, 3])], to: url)
            }
            expectRefusal(url, "tensor a has shape [-1] but 1 values") {
                try write([Tensor(name: "a", shape: [-1], values: [1])], to: url)
            }
            expectRefusal(url, "tensor a is given twice") {
                try write([Tensor(name: "a", shape: [1], values: [1]), Tensor(name: "a", shape: [1], values: [2])], to: url)
            }
            expectRefusal(url, "__metadata__ cannot be a tensor name") {
                try write([Tensor(name: "__metadata__", shape: [1], values: [1])], to: url)
            }
            #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path).isEmpty)
        }
    }
}
