import Checkpoint
import Foundation
import Testing
import TestSupport

/// Python's `safetensors` package is the reference reader and writer of the format.
@Suite struct InteroperabilityTests {
    private struct PythonView: Decodable {
        struct Tensor: Decodable {
            let dtype: String
            let shape: [Int]
            let hex: String
        }
        let metadata: [String: String]?
        let tensors: [String: Tensor]
    }

    @Test func pythonReadsOurFiles() throws {
        let script = """
            import json, sys
            from safetensors import safe_open
            from safetensors.numpy import load_file
            tensors = load_file(sys.argv[1])
            with safe_open(sys.argv[1], framework="numpy") as f:
                metadata = f.metadata()
            print(json.dumps({
                "metadata": metadata,
                "tensors": {name: {"dtype": str(t.dtype), "shape": list(t.shape), "hex": t.astype("<f4").tobytes().hex()}
                            for name, t in tensors.items()},
            }))
            """
        try withTemporaryDirectory { directory in
            let url = directory.appendingPathComponent("ours.safetensors")
            try write(sampleTensors, metadata: sampleMetadata, to: url)
            let view = try JSONDecoder().decode(PythonView.self, from: runPython(script, [url.path]))

            let ours = try SafeTensors.read(url, requireChecksum: true)
            #expect(view.metadata == ours.metadata)
            #expect(Set(view.tensors.keys) == Set(sampleTensors.map(\.name)))
            for tensor in sampleTensors {
                let loaded = try #require(view.tensors[tensor.name])
                #expect(loaded.dtype == "float32")
                #expect(loaded.shape == tensor.shape)
                #expect(loaded.hex == floatBytes(tensor.values).map { String(format: "%02x", $0) }.joined())
            }
        }
    }

    @Test func weReadPythonFiles() throws {
        let script = """
            import sys
            import numpy as np
            from safetensors.numpy import save_file
            tensors = {
                "zeta": np.arange(24, dtype=np.float32).reshape(2, 3, 4) * 0.25 - 1,
                "alpha": np.array([-0.0, 1e-45, np.inf, 3.5], dtype=np.float32),
                "scalar": np.array(7.5, dtype=np.float32),
            }
            save_file(tensors, sys.argv[1], metadata={"origin": "python", "text": "é \\"q\\" \\n"})
            save_file(tensors, sys.argv[2])
            """
        try withTemporaryDirectory { directory in
            let withMetadata = directory.appendingPathComponent("with.safetensors")
            let without = directory.appendingPathComponent("without.safetensors")
            _ = try runPython(script, [withMetadata.path, without.path])

            for url in [withMetadata, without] {
                let file = try SafeTensors.read(url, requireChecksum: false)
                #expect(!file.checksumVerified)
                #expect(Set(file.names) == ["zeta", "alpha", "scalar"])
                #expect(file.shape(of: "zeta") == [2, 3, 4])
                #expect(file.shape(of: "alpha") == [4])
                #expect(file.shape(of: "scalar") == [])
                #expect(try file.values(of: "zeta") == (0..<24).map { Float($0) * 0.25 - 1 })
                let alpha: [Float] = [-0.0, .leastNonzeroMagnitude, .infinity, 3.5]
                #expect(try file.values(of: "alpha").map(\.bitPattern) == alpha.map(\.bitPattern))
                #expect(try file.values(of: "scalar") == [7.5])
                expectRefusal(url, "has no data_sha256; not a checkpoint written by vae") {
                    _ = try SafeTensors.read(url, requireChecksum: true)
                }
            }
            #expect(try SafeTensors.read(withMetadata, requireChecksum: false).metadata == ["origin": "python", "text": "é \"q\" \n"])
            #expect(try SafeTensors.read(without, requireChecksum: false).metadata.isEmpty)
        }
    }
}
