import Dataset
import Foundation
import Testing
import TestSupport

/// The MNIST files bundled with the repository (data/mnist at the package root).
let bundledData = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("data/mnist")

/// Whether `python3` with numpy can be run here; the cross-checks against numpy need it.
let pythonHasNumpy = (try? runPython("import numpy")) != nil

/// Runs `script` with each of `arrays` saved as a raw float64 file (its path in `sys.argv[1...]`)
/// and returns the numbers it prints.
func pythonNumbers(_ script: String, arrays: [[Float]]) throws -> [Double] {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("EvaluationTests-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: directory) }
    var paths: [String] = []
    for (index, array) in arrays.enumerated() {
        let url = directory.appendingPathComponent("\(index).f64")
        try array.map(Double.init).withUnsafeBytes { Data($0) }.write(to: url)
        paths.append(url.path)
    }
    let output = String(decoding: try runPython(script, paths), as: UTF8.self)
    return output.split(whereSeparator: \.isWhitespace).map { Double(String($0)) ?? .nan }
}

/// Every image of `set` as targets (28x28) and network inputs (8x8), flat.
func targetsAndInputs(of set: ImageSet, count: Int? = nil) -> (targets: [Float], inputs: [Float]) {
    let count = count ?? set.count
    let pixels = ImageSet.imageSide * ImageSet.imageSide
    let lowPixels = ImageSet.lowResolutionSide * ImageSet.lowResolutionSide
    var targets = [Float](repeating: 0, count: count * pixels)
    var inputs = [Float](repeating: 0, count: count * lowPixels)
    targets.withUnsafeMutableBufferPointer { targets in
        inputs.withUnsafeMutableBufferPointer { inputs in
            for index in 0..<count {
                set.target(index, into: targets.baseAddress! + index * pixels)
                set.lowResolution(index, into: inputs.baseAddress! + index * lowPixels)
            }
        }
    }
    return (targets, inputs)
}

/// Each 8x8 image of `inputs` upscaled to 28x28 by TensorFlow's bilinear or bicubic resize, the
/// bicubic one clamped to [0, 1] as the baselines measure it.
func upscaled(_ inputs: [Float], bicubic: Bool) -> [Float] {
    let side = ImageSet.imageSide, lowSide = ImageSet.lowResolutionSide
    let count = inputs.count / (lowSide * lowSide)
    var out = [Float](repeating: .nan, count: count * side * side)
    inputs.withUnsafeBufferPointer { inputs in
        out.withUnsafeMutableBufferPointer { out in
            for index in 0..<count {
                let source = inputs.baseAddress! + index * lowSide * lowSide
                let target = out.baseAddress! + index * side * side
                if bicubic {
                    Resize.bicubic(source, height: lowSide, width: lowSide, into: target, outHeight: side, outWidth: side)
                } else {
                    Resize.bilinear(source, height: lowSide, width: lowSide, into: target, outHeight: side, outWidth: side)
                }
            }
        }
    }
    return bicubic ? out.map { min(max($0, 0), 1) } : out
}

