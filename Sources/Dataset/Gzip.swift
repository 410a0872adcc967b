import CZlib

enum Gzip {
    /// gzip files start with these two bytes, whatever their name says.
    static func isCompressed(_ bytes: [UInt8]) -> Bool {
        bytes.count >= 2 && bytes[0] == 0x1f && bytes[1] == 0x8b
    }

    /// Inflates a whole gzip file. Several members one after another (what `cat a.gz b.gz`
    /// makes) are valid gzip and are joined; anything else after the data is refused.
    static func decompress(_ compressed: [UInt8], path: String) throws(DatasetError) -> [UInt8] {
        var output: [UInt8] = []
        output.reserveCapacity(expectedSize(of: compressed))

        var stream = z_stream()
        // windowBits 15 + 16: a 32 KiB window and a gzip (not zlib) wrapper.
        guard inflateInit2_(&stream, 15 + 16, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            throw DatasetError(path: path, problem: "cannot start zlib: out of memory")
        }
        defer { inflateEnd(&stream) }

        let chunkSize = 1 << 18
        var chunk = [UInt8](repeating: 0, count: chunkSize)
        var consumed = 0
        while true {
            let status = compressed.withUnsafeBufferPointer { input in
                chunk.withUnsafeMutableBufferPointer { out in
                    let given = min(input.count - consumed, Int(UInt32.max))
                    stream.next_in = UnsafeMutablePointer(mutating: input.baseAddress! + consumed)
                    stream.avail_in = uInt(given)
                    stream.next_out = out.baseAddress
                    stream.avail_out = uInt(chunkSize)
                    let status = inflate(&stream, Z_NO_FLUSH)
                    consumed += given - Int(stream.avail_in)
                    return status
                }
            }
            output.append(contentsOf: chunk[0..<(chunkSize - Int(stream.avail_out))])
            switch status {
            case Z_OK:
                continue
            case Z_STREAM_END:
                let rest = compressed[consumed...]
                if rest.isEmpty { return output }
                guard rest.starts(with: [0x1f, 0x8b]) else {
                    throw DatasetError(path: path, problem: "damaged gzip: \(rest.count) unexpected bytes after the compressed data")
                }
                inflateReset(&stream)
            case Z_BUF_ERROR:
                // No progress possible with all input given: the compressed stream stops early.
                throw DatasetError(path: path, problem: "damaged gzip: the compressed data ends early (file truncated?)")
            case Z_MEM_ERROR:
                throw DatasetError(path: path, problem: "cannot decompress: out of memory")
            default:
                let reason = stream.msg.map { String(cString: $0) } ?? "zlib error \(status)"
                throw DatasetError(path: path, problem: "damaged gzip: \(reason)")
            }
        }
    }

    /// The uncompressed size the last member's trailer records (modulo 2^32), used only to size
    /// the output once. Capped at deflate's best ratio so a damaged trailer cannot ask for gigabytes.
    private static func expectedSize(of compressed: [UInt8]) -> Int {
        guard compressed.count >= 18 else { return 0 }
        let trailer = compressed.suffix(4)
        let recorded = trailer.reversed().reduce(0) { $0 << 8 | Int($1) }
        return min(recorded, compressed.count * 1032)
    }
}
