import Foundation
import Media
import Testing
import TestSupport

/// Every unreadable image gives one line naming the file.
@Suite struct BadInputTests {
    private func check(_ bytes: [UInt8]?, _ fragment: String, name: String = "input.png") throws {
        try withTemporaryDirectory { directory in
            let url = directory.appendingPathComponent(name)
            if let bytes { try Data(bytes).write(to: url) }
            expectOneLineError(url, fragment) { _ = try Image.read(url) }
        }
    }

    @Test func emptyFile() throws {
        try check([], "empty file")
    }

    @Test func randomBytes() throws {
        var state: UInt32 = 12345
        let noise = (0..<500).map { _ -> UInt8 in
            state = state &* 1_103_515_245 &+ 12345
            return UInt8(state >> 24)
        }
        try check(noise, "not a PNG or PGM image")
    }

    @Test func nonExistentPath() throws {
        try check(nil, "No such file or directory")
    }

    @Test func directory() throws {
        try withTemporaryDirectory { directory in
            expectOneLineError(directory, "is a directory, not a file") { _ = try Image.read(directory) }
        }
    }

    @Test func truncatedPNG() throws {
        try withTemporaryDirectory { directory in
            let url = directory.appendingPathComponent("whole.png")
            let pixels = (0..<(64 * 64)).map { Float(($0 * 7919) % 256) / 255 }
            try PNG.write(GreyImage(width: 64, height: 64, pixels: pixels), to: url)
            let whole = try [UInt8](Data(contentsOf: url))
            for cut in [whole.count / 2, 30, 8] {
                try Data(whole.prefix(cut)).write(to: url)
                expectOneLineError(url, "damaged PNG: ") { _ = try Image.read(url) }
            }
        }
    }

    @Test func corruptedPNGChecksum() throws {
        try withTemporaryDirectory { directory in
            let url = directory.appendingPathComponent("flipped.png")
            try PNG.write(GreyImage(width: 2, height: 2, pixels: [0, 1, 1, 0]), to: url)
            var bytes = try [UInt8](Data(contentsOf: url))
            bytes[20] ^= 0xFF  // inside IHDR, so its CRC no longer matches
            try Data(bytes).write(to: url)
            expectOneLineError(url, "damaged PNG: ") { _ = try Image.read(url) }
        }
    }

    /// The reader goes by the file's first bytes: a PGM named .png reads as the PGM it is.
    @Test func imagesAreReadByTheirContentNotTheirName() throws {
        try withTemporaryDirectory { directory in
            let pgm = directory.appendingPathComponent("image.png")
            try Data("P2 1 1 1 1".utf8).write(to: pgm)
            #expect(try Image.read(pgm) == GreyImage(width: 1, height: 1, pixels: [1]))
            let text = directory.appendingPathComponent("image.pgm")
            try Data("hello".utf8).write(to: text)
            expectOneLineError(text, "not a PNG or PGM image") { _ = try Image.read(text) }
        }
    }

    @Test func emptyImagesCannotBeWritten() throws {
        try withTemporaryDirectory { directory in
            let url = directory.appendingPathComponent("empty.png")
            expectOneLineError(url, "cannot write a 0x3 PNG") { try PNG.write(GreyImage(width: 0, height: 3, pixels: []), to: url) }
            let left = try FileManager.default.contentsOfDirectory(atPath: directory.path)
            #expect(left.isEmpty)
        }
    }
}
