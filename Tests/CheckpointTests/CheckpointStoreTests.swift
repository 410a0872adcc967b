import Checkpoint
import Foundation
import Testing
import TestSupport

@Suite struct CheckpointStoreTests {
    private func save(_ store: CheckpointStore, _ step: Int, keepLast: Int = 100) throws {
        try withViews([Tensor(name: "w", shape: [2], values: [Float(step), 1])]) {
            _ = try store.save(step: step, tensors: $0, metadata: ["step": "\(step)"], keepLast: keepLast)
        }
    }

    private func names(_ directory: URL) throws -> Set<String> {
        Set(try FileManager.default.contentsOfDirectory(atPath: directory.path))
    }

    @Test func namesAreZeroPaddedToNineDigits() {
        let store = CheckpointStore(directory: URL(fileURLWithPath: "/run/checkpoints"))
        #expect(store.url(forStep: 468).path == "/run/checkpoints/step-000000468.safetensors")
        #expect(store.url(forStep: 0).lastPathComponent == "step-000000000.safetensors")
        #expect(store.url(forStep: 1_234_567_890).lastPathComponent == "step-1234567890.safetensors")
    }

    @Test func stepsAreAscendingAndIgnoreOtherFiles() throws {
        try withTemporaryDirectory { run in
            let directory = run.appendingPathComponent("checkpoints")
            let store = CheckpointStore(directory: directory)
            #expect(try store.steps() == [])

            for step in [30, 5, 1_234_567_890, 1000] { try save(store, step) }
            for foreign in ["notes.txt", ".step-000000007.safetensors.tmp-1-2", "step-12.safetensors",
                            "step-00000000x.safetensors", "step-000000009.safetensors.bak", "step--00000009.safetensors"] {
                try Data().write(to: directory.appendingPathComponent(foreign))
            }
            #expect(try store.steps() == [5, 30, 1000, 1_234_567_890])
        }
    }

    @Test func stepsOfAFileInsteadOfAFolderIsAnError() throws {
        try withTemporaryDirectory { run in
            let directory = run.appendingPathComponent("checkpoints")
            try Data().write(to: directory)
            expectRefusal(directory, "cannot list the checkpoints folder") { _ = try CheckpointStore(directory: directory).steps() }
        }
    }

    @Test func saveCreatesTheFolderAndReturnsTheFile() throws {
        try withTemporaryDirectory { run in
            let store = CheckpointStore(directory: run.appendingPathComponent("a/b/checkpoints"))
            let url = try withViews([Tensor(name: "w", shape: [1], values: [3])]) {
                try store.save(step: 7, tensors: $0, metadata: ["step": "7"], keepLast: 3)
            }
            #expect(url == store.url(forStep: 7))
            let file = try SafeTensors.read(url, requireChecksum: true)
            #expect(file.metadata["step"] == "7")
            #expect(try file.values(of: "w") == [3])
        }
    }

    @Test func keepLastPrunesOlderCheckpointsOnly() throws {
        try withTemporaryDirectory { run in
            let directory = run.appendingPathComponent("checkpoints")
            let store = CheckpointStore(directory: directory)
            for step in 1...5 { try save(store, step, keepLast: 2) }
            try Data().write(to: directory.appendingPathComponent("notes.txt"))
            #expect(try store.steps() == [4, 5])

            try save(store, 6, keepLast: 1)
            #expect(try names(directory) == ["step-000000006.safetensors", "notes.txt"])

            try save(store, 7, keepLast: 3)
            try save(store, 8, keepLast: 3)
            try save(store, 9, keepLast: 3)
            #expect(try store.steps() == [7, 8, 9])
        }
    }

    @Test func theNewCheckpointIsNeverPruned() throws {
        try withTemporaryDirectory { run in
            let store = CheckpointStore(directory: run.appendingPathComponent("checkpoints"))
            try save(store, 10)
            try save(store, 5, keepLast: 2)
            #expect(try store.steps() == [5, 10])
            try save(store, 6, keepLast: 1)
            #expect(try store.steps() == [6])
        }
    }

    @Test func invalidArgumentsAreRefused() throws {
        try withTemporaryDirectory { run in
            let store = CheckpointStore(directory: run.appendingPathComponent("checkpoints"))
            try save(store, 1)
            expectRefusal(store.url(forStep: 2), "keepLast is 0") { try save(store, 2, keepLast: 0) }
            expectRefusal(store.url(forStep: -1), "step -1 is negative") { try save(store, -1) }
            #expect(try store.steps() == [1])
        }
    }

    @Test func newestValidSkipsDamagedOnesAndSaysWhy() throws {
        try withTemporaryDirectory { run in
            let directory = run.appendingPathComponent("checkpoints")
            let store = CheckpointStore(directory: directory)
            var warnings: [String] = []
            #expect(try store.newestValid { warnings.append($0) } == nil)
            #expect(warnings.isEmpty)

            for step in [100, 200, 300, 400] { try save(store, step) }
            // 400: one flipped data byte. 300: cut short. 200: weights from elsewhere, without data_sha256.
            var flipped = try [UInt8](Data(contentsOf: store.url(forStep: 400)))
            flipped[flipped.count - 1] ^= 0x80
            try Data(flipped).write(to: store.url(forStep: 400))
            let whole = try Data(contentsOf: store.url(forStep: 300))
            try whole.prefix(whole.count - 3).write(to: store.url(forStep: 300))
            try craft(header: "{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", data: floatBytes([1]),
                      at: store.url(forStep: 200))

            let newest = try #require(try store.newestValid { warnings.append($0) })
            #expect(newest.url == store.url(forStep: 100))
            #expect(newest.metadata["step"] == "100")
            #expect(warnings == [
                "\(store.url(forStep: 400).path): data does not match its data_sha256: the file is damaged or truncated",
                "\(store.url(forStep: 300).path): tensor w data_offsets [0,8] run past the end of the data (5 bytes); the file is truncated or damaged",
                "\(store.url(forStep: 200).path): has no data_sha256; not a checkpoint written by vae",
            ])

            // With every checkpoint damaged there is none to resume from.
            try FileManager.default.removeItem(at: store.url(forStep: 100))
            warnings = []
            #expect(try store.newestValid { warnings.append($0) } == nil)
            #expect(warnings.count == 3)
        }
    }
}
