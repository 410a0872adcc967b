import Foundation
import Media
import Testing
import TestSupport

@Suite struct GIFTests {
    /// An independent reader: walks the GIF's blocks with `struct` and decodes each frame's LZW
    /// data, printing what it found as JSON.
    static let inspector = """
        import json, struct, sys
        data = open(sys.argv[1], 'rb').read()
        width, height, packed, background, aspect = struct.unpack('<HHBBB', data[6:13])
        pos, palette = 13, []
        if packed & 0x80:
            size = 2 << (packed & 7)
            palette = [list(data[pos + 3 * i:pos + 3 * i + 3]) for i in range(size)]
            pos += 3 * size

        def sub_blocks(pos):
            body = b''
            while data[pos]:
                body += data[pos + 1:pos + 1 + data[pos]]
                pos += 1 + data[pos]
            return body, pos + 1

        def lzw(stream, minimum, count):
            clear, end = 1 << minimum, (1 << minimum) + 1
            bits, available = int.from_bytes(stream, 'little'), 8 * len(stream)
            at, size, table, previous, out = 0, minimum + 1, [], None, bytearray()
            while at + size <= available:
                code = (bits >> at) & ((1 << size) - 1)
                at += size
                if code == clear:
                    table = [bytes([i]) for i in range(clear)] + [b'', b'']
                    size, previous = minimum + 1, None
                    continue
                if code == end:
                    break
                if previous is None:
                    entry = table[code]
                else:
                    entry = table[code] if code < len(table) else previous + previous[:1]
                    if len(table) < 4096:
                        table.append(previous + entry[:1])
                out += entry
                previous = entry
                if len(table) == 1 << size and size < 12:
                    size += 1
            assert len(out) == count, (len(out), count)
            return list(out)

        loops, delays, descriptors, frames = None, [], [], []
        while data[pos] != 0x3B:
            if data[pos] == 0x21:
                label = data[pos + 1]
                body, pos = sub_blocks(pos + 2)
                if label == 0xFF and body[:11] == b'NETSCAPE2.0':
                    assert body[11] == 1
                    loops = struct.unpack('<H', body[12:14])[0]
                elif label == 0xF9:
                    delays.append(struct.unpack('<H', body[1:3])[0])
            elif data[pos] == 0x2C:
                left, top, w, h, flags = struct.unpack('<HHHHB', data[pos + 1:pos + 10])
                assert flags & 0x80 == 0, 'no local colour table expected'
                descriptors.append([left, top, w, h])
                minimum = data[pos + 10]
                stream, pos = sub_blocks(pos + 11)
                frames.append(lzw(stream, minimum, w * h))
            else:
                raise ValueError('unexpected block 0x%02x at %d' % (data[pos], pos))
        print(json.dumps({'signature': data[:6].decode(), 'width': width, 'height': height,
                          'palette': palette, 'loops': loops, 'delays': delays,
                          'descriptors': descriptors, 'frames': frames, 'trailing': len(data) - pos - 1}))
        """

    struct Inspection: Decodable {
        let signature: String
        let width: Int
        let height: Int
        let palette: [[Int]]
        let loops: Int?
        let delays: [Int]
        let descriptors: [[Int]]
        let frames: [[Int]]
        let trailing: Int
    }

    /// `count` frames of a 28x28 morph that together use every grey level, plus values that
    /// must be clamped (below 0, above 1, NaN).
    static func morph(_ count: Int) -> [GreyImage] {
        (0..<count).map { frame in
            var pixels = (0..<(28 * 28)).map { Float(($0 * 7 + frame * 13) % 256) / 255 }
            pixels[0] = -0.3
            pixels[1] = 1.4
            pixels[2] = .nan
            pixels[3] = 100.4 / 255
            pixels[4] = 100.6 / 255
            return GreyImage(width: 28, height: 28, pixels: pixels)
        }
    }

    /// What a stored value reads back as: clamped to [0, 1], NaN as 0, rounded to k/255.
    static func level(_ value: Float) -> Int {
        value.isNaN ? 0 : Int((min(max(value, 0), 1) * 255).rounded())
    }

    @Test(arguments: [1, 25])
    func roundTrip(frameCount: Int) throws {
        try withTemporaryDirectory { directory in
            let url = directory.appendingPathComponent("morph.gif")
            let frames = Self.morph(frameCount)
            try GIF.write(frames: frames, delayCentiseconds: 8, to: url)
            let read = try GIF.read(url)
            #expect(read.delayCentiseconds == Array(repeating: 8, count: frameCount))
            #expect(read.frames.count == frameCount)
            for (original, back) in zip(frames, read.frames) {
                #expect(back.width == 28 && back.height == 28)
                #expect(back.pixels == original.pixels.map { Float(Self.level($0)) / 255 })
                // Within 8-bit quantisation of every value in range.
                for (a, b) in zip(original.pixels, back.pixels) where (0...1).contains(a) {
                    #expect(abs(a - b) <= 0.5 / 255 + 1e-6)
                }
            }
            let files = try FileManager.default.contentsOfDirectory(atPath: directory.path)
            #expect(files == ["morph.gif"])
        }
    }

    @Test(arguments: [1, 25])
    func pythonReadsTheSameAnimation(frameCount: Int) throws {
        try withTemporaryDirectory { directory in
            let url = directory.appendingPathComponent("morph.gif")
            let frames = Self.morph(frameCount)
            try GIF.write(frames: frames, delayCentiseconds: 4, to: url)
            let found = try decodeJSON(Inspection.self, try python(Self.inspector, [url.path]))
            #expect(found.signature == "GIF89a")
            #expect(found.width == 28 && found.height == 28)
            #expect(found.palette == (0..<256).map { [$0, $0, $0] })
            #expect(found.loops == 0)  // forever
            #expect(found.delays == Array(repeating: 4, count: frameCount))
            #expect(found.descriptors == Array(repeating: [0, 0, 28, 28], count: frameCount))
            #expect(found.frames == frames.map { $0.pixels.map(Self.level) })
            #expect(found.trailing == 0)
        }
    }

    @Test func withoutLoopThereIsNoNetscapeBlock() throws {
        try withTemporaryDirectory { directory in
            let url = directory.appendingPathComponent("once.gif")
            try GIF.write(frames: Self.morph(3), delayCentiseconds: 50, loop: false, to: url)
            let found = try decodeJSON(Inspection.self, try python(Self.inspector, [url.path]))
            #expect(found.loops == nil)
            #expect(found.delays == [50, 50, 50])
            #expect(try GIF.read(url).frames.count == 3)
        }
    }

    @Test func writingReplacesAnExistingFile() throws {
        try withTemporaryDirectory { directory in
            let url = directory.appendingPathComponent("replaced.gif")
            try Data("old".utf8).write(to: url)
            let frame = GreyImage(width: 3, height: 2, pixels: [0, 0.2, 0.4, 0.6, 0.8, 1])
            try GIF.write(frames: [frame], delayCentiseconds: 0, to: url)
            #expect(try GIF.read(url).frames == [frame])
            #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path) == ["replaced.gif"])
        }
    }

    @Test func delayFromFramesPerSecond() {
        #expect(GIF.delayCentiseconds(framesPerSecond: 10) == 10)
        #expect(GIF.delayCentiseconds(framesPerSecond: 12.5) == 8)
        #expect(GIF.delayCentiseconds(framesPerSecond: 24) == 4)
        // Browsers slow anything under 2 centiseconds down to 10, so faster rates are capped.
        #expect(GIF.delayCentiseconds(framesPerSecond: 100) == 2)
        #expect(GIF.delayCentiseconds(framesPerSecond: 0.5) == 200)
        #expect(GIF.delayCentiseconds(framesPerSecond: 0.0001) == 65535)
    }

    @Test func unwritableAnimations() throws {
        try withTemporaryDirectory { directory in
            let url = directory.appendingPathComponent("nothing.gif")
            expectOneLineError(url, "cannot write a GIF with no frames") {
                try GIF.write(frames: [], delayCentiseconds: 10, to: url)
            }
            expectOneLineError(url, "cannot write a 0x3 GIF") {
                try GIF.write(frames: [GreyImage(width: 0, height: 3, pixels: [])], delayCentiseconds: 10, to: url)
            }
            let missing = directory.appendingPathComponent("no such folder/a.gif")
            expectOneLineError(missing, "cannot create a temporary file in \(missing.deletingLastPathComponent().path): No such file or directory") {
                try GIF.write(frames: Self.morph(1), delayCentiseconds: 10, to: missing)
            }
            let left = try FileManager.default.contentsOfDirectory(atPath: directory.path)
            #expect(left.isEmpty)
        }
    }
}
