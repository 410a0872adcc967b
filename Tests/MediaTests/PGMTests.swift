import Foundation
import Media
import Testing
import TestSupport

@Suite struct PGMTests {
    private func read(_ bytes: [UInt8]) throws -> GreyImage {
        try withTemporaryDirectory { directory in
            let url = directory.appendingPathComponent("image.pgm")
            try Data(bytes).write(to: url)
            return try Image.read(url)
        }
    }

    @Test func binaryEightBit() throws {
        let image = try read(Array("P5\n# made by hand\n3 2\n255\n".utf8) + [0, 51, 255, 1, 128, 254])
        #expect(image == GreyImage(width: 3, height: 2, pixels: [0, 51, 255, 1, 128, 254].map { Float($0) / 255 }))
    }

    @Test func binarySixteenBitIsBigEndian() throws {
        let image = try read(Array("P5 2 2 65535\n".utf8) + [0x00, 0x00, 0xFF, 0xFF, 0x01, 0x02, 0x80, 0x00])
        #expect(image.pixels == [0, 65535, 0x0102, 0x8000].map { Float($0) / 65535 })
    }

    @Test func binarySmallMaxvalScales() throws {
        let image = try read(Array("P5 4 1 15 ".utf8) + [0, 5, 10, 15])
        #expect(image.pixels == [0, 1.0 / 3, 2.0 / 3, 1])
    }

    @Test func plainWithComments() throws {
        let image = try read(Array("P2\n# comment\n4 2 # trailing comment\n100\n0 25 50\n100\n  7 # in the raster\n8 9\n10\n".utf8))
        #expect(image == GreyImage(width: 4, height: 2, pixels: [0, 25, 50, 100, 7, 8, 9, 10].map { Float($0) / 100 }))
    }

    @Test func plainSixteenBit() throws {
        let image = try read(Array("P2 3 1 65535 0 32768 65535".utf8))
        #expect(image.pixels == [0, 32768.0 / 65535, 1])
    }

    @Test(arguments: [
        ("P5 3 2 255\n\u{1}\u{2}", "damaged PGM: truncated pixel data"),
        ("P2 2 2 255 1 2 3", "damaged PGM: truncated or unreadable pixel data"),
        ("P2 2 1 10 3 11", "damaged PGM: a sample exceeds maxval 10"),
        ("P5 2 2 70000\n", "damaged PGM: maxval 70000 is not in 1...65535"),
        ("P5 0 2 255\n", "damaged PGM: size 0x2"),
        ("P5 abc", "damaged PGM: unreadable header"),
    ])
    func damaged(text: String, fragment: String) throws {
        try withTemporaryDirectory { directory in
            let url = directory.appendingPathComponent("bad.pgm")
            try Data(text.utf8).write(to: url)
            expectOneLineError(url, fragment) { _ = try Image.read(url) }
        }
    }
}
