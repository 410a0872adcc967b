import Foundation

/// Protocol-buffer wire encoding of the handful of fields an event file needs (varints,
/// 64-bit and 32-bit fixed values, length-delimited bytes and nested messages), and the
/// matching reader for the few fields a resume reads back (the step). The ONNX export writes
/// its messages with it too.
public struct ProtobufMessage {
    public private(set) var bytes: [UInt8] = []

    public init() {}

    private mutating func key(_ field: Int, _ wireType: UInt64) { varint(UInt64(field) << 3 | wireType) }

    private mutating func varint(_ value: UInt64) {
        var v = value
        while v >= 0x80 {
            bytes.append(UInt8(v & 0x7F) | 0x80)
            v >>= 7
        }
        bytes.append(UInt8(v))
    }

    public mutating func int(_ field: Int, _ value: Int64) {
        key(field, 0)
        varint(UInt64(bitPattern: value))
    }

    public mutating func double(_ field: Int, _ value: Double) {
        key(field, 1)
        withUnsafeBytes(of: value.bitPattern.littleEndian) { bytes.append(contentsOf: $0) }
    }

    public mutating func float(_ field: Int, _ value: Float) {
        key(field, 5)
        withUnsafeBytes(of: value.bitPattern.littleEndian) { bytes.append(contentsOf: $0) }
    }

    public mutating func data(_ field: Int, _ value: some Collection<UInt8>) {
        key(field, 2)
        varint(UInt64(value.count))
        bytes.append(contentsOf: value)
    }

    public mutating func string(_ field: Int, _ value: String) { data(field, Array(value.utf8)) }

    public mutating func message(_ field: Int, _ value: ProtobufMessage) { data(field, value.bytes) }

    /// The varint field `field` at the top level of `bytes`, if present (the last one wins, as
    /// in protobuf); nil also when the bytes are not a well-formed message.
    static func varintField(_ field: Int, in bytes: ArraySlice<UInt8>) -> UInt64? {
        var index = bytes.startIndex, found: UInt64?
        func readVarint() -> UInt64? {
            var value: UInt64 = 0, shift: UInt64 = 0
            while index < bytes.endIndex, shift < 64 {
                let byte = bytes[index]
                index += 1
                value |= UInt64(byte & 0x7F) << shift
                if byte < 0x80 { return value }
                shift += 7
            }
            return nil
        }
        while index < bytes.endIndex {
            guard let key = readVarint() else { return nil }
            switch key & 7 {
            case 0:
                guard let value = readVarint() else { return nil }
                if Int(key >> 3) == field { found = value }
            case 1: index += 8
            case 5: index += 4
            case 2:
                guard let length = readVarint(), length <= UInt64(bytes.endIndex - index) else { return nil }
                index += Int(length)
            default: return nil
            }
            if index > bytes.endIndex { return nil }
        }
        return found
    }
}
