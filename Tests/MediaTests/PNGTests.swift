import Foundation
import Media
import Testing
import TestSupport

@Suite struct PNGTests {
    /// An independent decoder (zlib plus the PNG filters) for 8-bit, non-interlaced grey and RGB.
    static let decoder = """
        import json, struct, sys, zlib
        data = open(sys.argv[1], 'rb').read()
        assert data[:8] == b'\\x89PNG\\r\\n\\x1a\\n'
        pos, idat = 8, b''
        while pos < len(data):
            length, kind = struct.unpack('>I4s', data[pos:pos + 8])
            body = data[pos + 8:pos + 8 + length]
            assert zlib.crc32(kind + body) == struct.unpack('>I', data[pos + 8 + length:pos + 12 + length])[0]
            pos += 12 + length
            if kind == b'IHDR':
                width, height, depth, colour, _, _, interlace = struct.unpack('>IIBBBBB', body)
            elif kind == b'IDAT':
                idat += body
        assert depth == 8 and interlace == 0
        bpp = {0: 1, 2: 3}[colour]
        raw, stride = zlib.decompress(idat), width * bpp
        previous, samples = bytearray(stride), []
        for y in range(height):
            kind = raw[y * (stride + 1)]
            line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
            for i in range(stride):
                a = line[i - bpp] if i >= bpp else 0
                b = previous[i]
                c = previous[i - bpp] if i >= bpp else 0
                p = a + b - c
                paeth = a if abs(p - a) <= abs(p - b) and abs(p - a) <= abs(p - c) else b if abs(p - b) <= abs(p - c) else c
                line[i] = (line[i] + [0, a, b, (a + b) // 2, paeth][kind]) & 255
            samples += line
            previous = line
        print(json.dumps({'width': width, 'height': height, 'colour': colour, 'samples': samples}))
        """

    struct Decoded: Decodable {
        let width: Int
        let height: Int
        let colour: Int
        let samples: [Int]
    }

    @Test func greyRoundTripIsExactForEveryLevel() throws {
        try withTemporaryDirectory { directory in
            let url = directory.appendingPathComponent("grey.png")
            let levels = (0..<256).map { Float($0) / 255 }
            let image = GreyImage(width: 32, height: 8, pixels: levels)
            try PNG.write(image, to: url)
            #expect(try Image.read(url) == image)

            let decoded = try decodeJSON(Decoded.self, try python(Self.decoder, [url.path]))
            #expect(decoded.colour == 0 && decoded.width == 32 && decoded.height == 8)
            #expect(decoded.samples == Array(0..<256))
        }
    }

    @Test func greyWriteClampsAndRounds() throws {
        try withTemporaryDirectory { directory in
            let url = directory.appendingPathComponent("clamped.png")
            try PNG.write(GreyImage(width: 5, height: 1, pixels: [-0.5, 1.7, .nan, 10.4 / 255, 10.6 / 255]), to: url)
            #expect(try Image.read(url).pixels == [0, 1, 0, 10 / 255, 11 / 255])
        }
    }

    /// Hand-encodes PNGs of other kinds and prints, per file, PIL's `convert("L")` of them.
    static let otherFormats = """
        import json, random, struct, sys, zlib
        out = sys.argv[1]
        random.seed(7)
        W, H = 9, 7

        def chunk(kind, data):
            return struct.pack('>I', len(data)) + kind + data + struct.pack('>I', zlib.crc32(kind + data))

        def save(name, depth, colour, lines, extra=b'', interlace=0):
            header = struct.pack('>IIBBBBB', W, H, depth, colour, 0, 0, interlace)
            raw = b''.join(b'\\0' + line for line in lines)
            with open(f'{out}/{name}.png', 'wb') as f:
                f.write(b'\\x89PNG\\r\\n\\x1a\\n' + chunk(b'IHDR', header) + extra
                        + chunk(b'IDAT', zlib.compress(raw)) + chunk(b'IEND', b''))

        def luma(r, g, b):  # Pillow's rgb2l
            return (r * 19595 + g * 38470 + b * 7471 + 0x8000) >> 16

        def pixels(channels):
            return [[tuple(random.randrange(256) for _ in range(channels)) for x in range(W)] for y in range(H)]

        def rows(image):
            return [bytes(c for p in row for c in p) for row in image]

        expected = {}
        rgb = pixels(3)
        save('rgb', 8, 2, rows(rgb))
        expected['rgb'] = [luma(*p) for row in rgb for p in row]

        rgba = pixels(4)
        rgba[0][0], rgba[0][1] = (200, 100, 50, 0), (10, 250, 90, 1)
        save('rgba', 8, 6, rows(rgba))
        expected['rgba'] = [luma(*p[:3]) for row in rgba for p in row]

        grey_alpha = pixels(2)
        grey_alpha[1][1] = (77, 0)
        save('grey_alpha', 8, 4, rows(grey_alpha))
        expected['grey_alpha'] = [p[0] for row in grey_alpha for p in row]

        palette = [tuple(random.randrange(256) for _ in range(3)) for _ in range(16)]
        indices = [[random.randrange(16) for x in range(W)] for y in range(H)]
        packed = [bytes(row[i] << 4 | (row + [0])[i + 1] for i in range(0, W, 2)) for row in indices]
        save('palette', 4, 3, packed, chunk(b'PLTE', bytes(c for p in palette for c in p))
             + chunk(b'tRNS', bytes(range(0, 256, 16))))
        expected['palette'] = [luma(*palette[i]) for row in indices for i in row]

        deep = [[random.randrange(65536) for x in range(W)] for y in range(H)]
        deep[0][:6] = [0, 65535, 257 * 100, 128, 129, 65407]
        save('grey16', 16, 0, [b''.join(struct.pack('>H', s) for s in row) for row in deep])
        expected['grey16'] = [round(s * 255 / 65535) for row in deep for s in row]

        deep_rgb = [[tuple(random.randrange(65536) for _ in range(3)) for x in range(W)] for y in range(H)]
        save('rgb16', 16, 2, [b''.join(struct.pack('>HHH', *p) for p in row) for row in deep_rgb])
        expected['rgb16'] = [luma(*(round(s * 255 / 65535) for s in p)) for row in deep_rgb for p in row]

        grey = [[random.randrange(256) for x in range(W)] for y in range(H)]
        adam7 = []
        for x0, y0, dx, dy in ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)):
            if x0 < W:
                adam7 += [bytes(grey[y][x] for x in range(x0, W, dx)) for y in range(y0, H, dy)]
        save('interlaced', 8, 0, adam7, interlace=1)
        expected['interlaced'] = [v for row in grey for v in row]

        print(json.dumps(expected))
        """

    @Test func readsOtherKindsAsPILWouldConvertThem() throws {
        try withTemporaryDirectory { directory in
            let expected = try decodeJSON([String: [Int]].self, try python(Self.otherFormats, [directory.path]))
            #expect(expected.keys.sorted() == ["grey16", "grey_alpha", "interlaced", "palette", "rgb", "rgb16", "rgba"])
            for (name, levels) in expected.sorted(by: { $0.key < $1.key }) {
                let image = try Image.read(directory.appendingPathComponent("\(name).png"))
                #expect(image.width == 9 && image.height == 7, "\(name)")
                #expect(image.pixels == levels.map { Float($0) / 255 }, "\(name)")
            }
        }
    }
}
