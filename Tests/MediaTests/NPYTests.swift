import Foundation
import Media
import Testing
import TestSupport

@Suite struct NPYTests {
    struct Loaded: Decodable {
        let dtype: String
        let shape: [Int]
        let values: [Double]
        let identical: Bool
    }

    static func sample(_ count: Int) -> [Float] {
        let specials: [Float] = [-0.0, 1, Float.leastNonzeroMagnitude, -Float.greatestFiniteMagnitude, 1e-38]
        return (0..<count).map { $0 < specials.count ? specials[$0] : Float($0) * 0.37 - 3 }
    }

    @Test(arguments: [[2, 3, 4], [7], [], [0, 5], [3, 28, 28]])
    func roundTrip(shape: [Int]) throws {
        try withTemporaryDirectory { directory in
            let url = directory.appendingPathComponent("a.npy")
            let values = Self.sample(shape.reduce(1, *))
            try NPY.write(values, shape: shape, to: url)
            let loaded = try NPY.read(url)
            #expect(loaded.shape == shape)
            #expect(loaded.values.map(\.bitPattern) == values.map(\.bitPattern))
        }
    }

    @Test(arguments: [[2, 3, 4], [7], [], [0, 5], [1234567, 0]])
    func numpyLoadsWhatIsWrittenHere(shape: [Int]) throws {
        try withTemporaryDirectory { directory in
            let url = directory.appendingPathComponent("from-swift.npy")
            let copy = directory.appendingPathComponent("from-numpy.npy")
            let values = Self.sample(shape.reduce(1, *))
            try NPY.write(values, shape: shape, to: url)
            let printed = try python("""
                import json, sys, numpy as np
                a = np.load(sys.argv[1])
                np.save(sys.argv[2], a)
                same = open(sys.argv[1], 'rb').read() == open(sys.argv[2], 'rb').read()
                print(json.dumps({'dtype': str(a.dtype), 'shape': list(a.shape),
                                  'values': a.ravel().tolist(), 'identical': same}))
                """, [url.path, copy.path])
            let loaded = try decodeJSON(Loaded.self, printed)
            #expect(loaded.dtype == "float32")
            #expect(loaded.shape == shape)
            #expect(loaded.values.map { Float($0) } == values)
            #expect(loaded.identical, "np.save writes a different file for the same array")
        }
    }

    @Test func writesReplaceWholeFilesAndLeaveNoTemporaries() throws {
        try withTemporaryDirectory { directory in
            let url = directory.appendingPathComponent("a.npy")
            try NPY.write(Self.sample(100), shape: [10, 10], to: url)
            try NPY.write([5], shape: [1], to: url)
            #expect(try NPY.read(url).values == [5])
            #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path) == ["a.npy"])

            // A directory in the way makes the final rename fail: it must stay, with no litter.
            let blocked = directory.appendingPathComponent("blocked.npy")
            try FileManager.default.createDirectory(at: blocked, withIntermediateDirectories: false)
            try Data().write(to: blocked.appendingPathComponent("inside"))
            expectOneLineError(blocked, "cannot rename the temporary file into place: Is a directory") { try NPY.write([1], shape: [1], to: blocked) }
            #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path).sorted() == ["a.npy", "blocked.npy"])

            let nowhere = directory.appendingPathComponent("no/such/dir.npy")
            expectOneLineError(nowhere, "cannot create a temporary file in \(nowhere.deletingLastPathComponent().path): No such file or directory") { try NPY.write([1], shape: [1], to: nowhere) }
        }
    }
}
