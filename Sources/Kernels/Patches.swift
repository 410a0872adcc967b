/// How a 3x3 convolution window maps positions of a small grid onto a large one.
///
/// A convolution reads the large grid (its input) at `y*stride + ky - pad` for each output
/// position `y` of the small grid: `gather` copies those windows into a patch matrix for the
/// forward product, and `scatterAdd` adds patch gradients back into the large grid for the
/// input gradient. (The encoder's convolutions use it; the decoder's transposed convolutions
/// have direct kernels in CKernels.)
/// The patch matrix has one row per small-grid position and `9 * channels` columns ordered
/// (ky, kx, channel), which is the order of Keras's kernel layouts.
public struct PatchGeometry: Sendable, Equatable {
    public static let kernelSize = 3
    public let smallHeight: Int, smallWidth: Int
    public let largeHeight: Int, largeWidth: Int
    public let channels: Int
    public let stride: Int
    public let pad: Int

    public init(small: (height: Int, width: Int), large: (height: Int, width: Int),
                channels: Int, stride: Int, pad: Int) {
        precondition(small.height > 0 && small.width > 0 && large.height > 0 && large.width > 0)
        precondition(channels > 0 && stride > 0 && pad >= 0)
        smallHeight = small.height; smallWidth = small.width
        largeHeight = large.height; largeWidth = large.width
        self.channels = channels; self.stride = stride; self.pad = pad
    }

    public var smallPositions: Int { smallHeight * smallWidth }
    public var largeCount: Int { largeHeight * largeWidth * channels }
    public var patchWidth: Int { PatchGeometry.kernelSize * PatchGeometry.kernelSize * channels }

    /// Fills `patches` (`smallPositions x patchWidth`) from one image's `large` grid (HWC);
    /// window cells outside the grid are zero ("same" padding).
    public func gather(_ large: UnsafePointer<Float>, into patches: UnsafeMutablePointer<Float>) {
        let k = PatchGeometry.kernelSize, run = k * channels
        var row = patches
        for y in 0..<smallHeight {
            for x in 0..<smallWidth {
                var cell = row
                let top = y * stride - pad, left = x * stride - pad
                if top >= 0 && top + k <= largeHeight && left >= 0 && left + k <= largeWidth {
                    // The whole window inside: each of its rows is one run of k cells.
                    for ky in 0..<k {
                        let source = large + ((top + ky) * largeWidth + left) * channels
                        if run >= 16 {
                            cell.update(from: source, count: run)
                        } else {
                            for i in 0..<run { cell[i] = source[i] }   // a call costs more than a few floats
                        }
                        cell += run
                    }
                    row += patchWidth
                    continue
                }
                for ky in 0..<k {
                    let ly = y * stride + ky - pad
                    for kx in 0..<k {
                        let lx = x * stride + kx - pad
                        // Plain loops, not memcpy: cells are 1 to 64 floats, too short for a call.
                        if ly >= 0 && ly < largeHeight && lx >= 0 && lx < largeWidth {
                            let source = large + (ly * largeWidth + lx) * channels
                            for c in 0..<channels { cell[c] = source[c] }
                        } else {
                            for c in 0..<channels { cell[c] = 0 }
                        }
                        cell += channels
                    }
                }
                row += patchWidth
            }
        }
    }

    /// Adds every row of `patches` into one image's `large` grid (HWC) at its window;
    /// cells that fall outside the grid are dropped. The caller initialises `large`.
    public func scatterAdd(_ patches: UnsafePointer<Float>, into large: UnsafeMutablePointer<Float>) {
        let k = PatchGeometry.kernelSize
        var row = patches
        for y in 0..<smallHeight {
            for x in 0..<smallWidth {
                var cell = row
                for ky in 0..<k {
                    let ly = y * stride + ky - pad
                    for kx in 0..<k {
                        let lx = x * stride + kx - pad
                        if ly >= 0 && ly < largeHeight && lx >= 0 && lx < largeWidth {
                            let target = large + (ly * largeWidth + lx) * channels
                            for c in 0..<channels { target[c] += cell[c] }
                        }
                        cell += channels
                    }
                }
                row += patchWidth
            }
        }
    }
}
