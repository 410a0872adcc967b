import CKernels

// The decoder's transposed convolutions: Swift's view of the direct C kernels
// (transposed_convolution_body.h), with the preconditions their tiles need.

/// One image's activation inside a border of one zero cell, `(height + 2) x (width + 2) x
/// channels` floats: the decoder's transposed convolutions read and write these, so that every
/// window is in bounds (see `ckernels.h`).
public struct GridShape: Sendable, Equatable {
    public let height: Int, width: Int, channels: Int
    public init(height: Int, width: Int, channels: Int) {
        precondition(height > 0 && width > 0 && channels > 0)
        self.height = height; self.width = width; self.channels = channels
    }
    /// Floats of one image's grid.
    public var count: Int { (height + 2) * (width + 2) * channels }
    /// Floats of one image's interior, as a plain HWC image.
    public var imageCount: Int { height * width * channels }

    /// Copies `batch` plain HWC images into the interiors of their grids.
    public func copy(images: UnsafePointer<Float>, batch: Int, into grids: UnsafeMutablePointer<Float>) {
        vae_grids_from_images(images, Int32(batch), Int32(height), Int32(width), Int32(channels), grids)
    }
}

/// Conv2DTranspose, 3x3, stride 2, "same": `input` grids -> grids of twice the height and
/// width with `outputs` channels. Kernel [3, 3, out, in] (Keras). Direct kernels: bias and
/// relu fused, no patch matrix; in either precision (bf16 needs a build that `runsBF16`).
public enum UpsamplingConvTranspose2D {
    /// Floats of the scratch that `forward` and `backward` need, in either precision.
    public static func scratchCount(input: GridShape, outputs: Int) -> Int {
        max(18 * input.channels * outputs, Int(bf16Room(input, outputs: outputs).scratch))
    }

    static func bf16Room(_ input: GridShape, outputs: Int) -> vae_deconv2x_bf16_room {
        vae_deconv2x_bf16_room_of(Int32(input.height), Int32(input.width), Int32(input.channels), Int32(outputs))
    }

    public static func outputShape(_ input: GridShape, outputs: Int) -> GridShape {
        GridShape(height: 2 * input.height, width: 2 * input.width, channels: outputs)
    }

    /// `helpers` take single images.
    public static func forward(_ x: UnsafePointer<Float>, batch: Int, input: GridShape, outputs: Int,
                               kernel: UnsafePointer<Float>, bias: UnsafePointer<Float>, relu: Bool, precision: Precision,
                               scratch: UnsafeMutablePointer<Float>, helpers: Helpers? = nil,
                               into y: UnsafeMutablePointer<Float>) {
        precondition(outputs % 16 == 0, "the kernel's tiles are 16 outputs wide")
        let (h, w, c) = (Int32(input.height), Int32(input.width), Int32(input.channels))
        switch precision {
        case .fp32:
            vae_deconv2x_pack_forward(kernel, c, Int32(outputs), scratch)
            let output = outputShape(input, outputs: outputs)
            let compute = { (images: Range<Int>) in
                vae_deconv2x_forward_packed(x + images.lowerBound * input.count, Int32(images.count), h, w, c, scratch, bias,
                                            Int32(outputs), relu, y + images.lowerBound * output.count)
            }
            imageByImage(batch, helpers: helpers, alone: compute) { rest, helpers in
                helpers.share(pieces: rest.count) { compute((rest.lowerBound + $0)..<(rest.lowerBound + $0 + 1)) }
            }
        case .bf16:
            precondition(input.channels % 16 == 0 && precision.isAvailable, "bf16 needs inputs in 16s and a build that runs it")
            let room = bf16Room(input, outputs: outputs), output = outputShape(input, outputs: outputs)
            vae_deconv2x_pack_forward_bf16(kernel, c, Int32(outputs), scratch)
            let compute = { (images: Range<Int>, xWords: UnsafeMutablePointer<UInt32>) in
                vae_deconv2x_forward_packed_bf16(x + images.lowerBound * input.count, Int32(images.count), h, w, c, scratch,
                                                 bias, Int32(outputs), relu, xWords, y + images.lowerBound * output.count)
            }
            let own = words(scratch + Int(room.forwardOwn))
            imageByImage(batch, helpers: helpers, alone: { compute($0, own) }) { rest, helpers in
                helpers.share(pieces: rest.count) { i in
                    withRoom(words: Int(room.forwardImage)) { compute((rest.lowerBound + i)..<(rest.lowerBound + i + 1), $0) }
                }
            }
        }
    }

    /// `dy`: grids of the output gradient, masked by the layer's activation. The input is a
    /// ReLU output, so its gradient comes out masked too, as grids or, if `inputGradientIsGrid`
    /// is false, as plain images. `helpers` take a tap's kernel gradient, the bias gradient or
    /// one image's input gradient at a time (in bf16, after each image's weight-gradient pairs).
    public static func backward(_ dy: UnsafePointer<Float>, x: UnsafePointer<Float>, batch: Int, input: GridShape,
                                outputs: Int, kernel: UnsafePointer<Float>, precision: Precision,
                                scratch: UnsafeMutablePointer<Float>, helpers: Helpers? = nil,
                                kernelGradient: UnsafeMutablePointer<Float>, biasGradient: UnsafeMutablePointer<Float>,
                                inputGradient dx: UnsafeMutablePointer<Float>?, inputGradientIsGrid: Bool) {
        precondition(input.channels % 16 == 0 && outputs % 16 == 0, "the kernel's tiles are 16 channels wide")
        let (h, w, c, o) = (Int32(input.height), Int32(input.width), Int32(input.channels), Int32(outputs))
        switch precision {
        case .fp32:
            vae_deconv2x_pack_backward(kernel, c, o, scratch)
            let outputGrid = outputShape(input, outputs: outputs).count
            let dxImage = inputGradientIsGrid ? input.count : input.imageCount
            let compute = { (images: Range<Int>, taps: Range<Int>, bias: UnsafeMutablePointer<Float>?, dx: UnsafeMutablePointer<Float>?) in
                let n = images.lowerBound
                vae_deconv2x_backward_images(dy + n * outputGrid, x + n * input.count, Int32(images.count), h, w, c, o, scratch,
                                             Int32(taps.lowerBound), Int32(taps.upperBound), bias,
                                             dx.map { $0 + n * dxImage }, inputGradientIsGrid)
            }
            imageByImage(batch, helpers: helpers, alone: { compute($0, 0..<9, biasGradient, dx) }) { rest, helpers in
                // Nine taps (each the longest piece), the bias, then each image's input gradient.
                helpers.share(pieces: 10 + (dx == nil ? 0 : rest.count)) { piece in
                    switch piece {
                    case 0..<9: compute(rest, piece..<(piece + 1), nil, nil)
                    case 9: compute(rest, 0..<0, biasGradient, nil)
                    default: compute((rest.lowerBound + piece - 10)..<(rest.lowerBound + piece - 9), 0..<0, nil, dx)
                    }
                }
            }
            vae_deconv2x_backward_finish(scratch, c, o, kernelGradient)
        case .bf16:
            precondition(precision.isAvailable, "bf16 needs a build that runs it")
            let room = bf16Room(input, outputs: outputs), pairs = Int(room.positionPairs)
            let outputGrid = outputShape(input, outputs: outputs).count
            let dxImage = inputGradientIsGrid ? input.count : input.imageCount
            vae_deconv2x_pack_backward_bf16(kernel, c, o, scratch)
            let compute = { (images: Range<Int>, taps: Range<Int>, bias: UnsafeMutablePointer<Float>?,
                             dx: UnsafeMutablePointer<Float>?, xPairs: UnsafePointer<UInt32>?, work: UnsafeMutablePointer<UInt32>) in
                let n = images.lowerBound
                vae_deconv2x_backward_images_bf16(dy + n * outputGrid, x + n * input.count, Int32(images.count), h, w, c, o,
                                                  scratch, Int32(taps.lowerBound), Int32(taps.upperBound), bias,
                                                  dx.map { $0 + n * dxImage }, inputGradientIsGrid, xPairs, work)
            }
            let ownPairs = words(scratch + Int(room.backwardOwn))
            imageByImage(batch, helpers: helpers, alone: { images in
                for n in images {
                    vae_deconv2x_position_pairs_bf16(x + n * input.count, 1, h, w, c, ownPairs)
                    compute(n..<(n + 1), 0..<9, biasGradient, dx, ownPairs, ownPairs + pairs)
                }
            }) { rest, helpers in
                // Each image's weight-gradient pairs first, once: every tap's piece reads them.
                withRoom(words: rest.count * pairs) { xPairs in
                    helpers.share(pieces: rest.count) { i in
                        vae_deconv2x_position_pairs_bf16(x + (rest.lowerBound + i) * input.count, 1, h, w, c, xPairs + i * pairs)
                    }
                    helpers.share(pieces: 10 + (dx == nil ? 0 : rest.count)) { piece in
                        withRoom(words: Int(room.backwardWork)) { work in
                            switch piece {
                            case 0..<9: compute(rest, piece..<(piece + 1), nil, nil, xPairs, work)
                            case 9: compute(rest, 0..<0, biasGradient, nil, nil, work)
                            default: compute((rest.lowerBound + piece - 10)..<(rest.lowerBound + piece - 9), 0..<0, nil, dx, nil, work)
                            }
                        }
                    }
                }
            }
            vae_deconv2x_backward_finish(scratch, c, o, kernelGradient)
        }
    }
}

/// Scratch floats as the 32-bit words the bf16 kernels keep there.
private func words(_ floats: UnsafeMutablePointer<Float>) -> UnsafeMutablePointer<UInt32> {
    UnsafeMutableRawPointer(floats).assumingMemoryBound(to: UInt32.self)
}

/// Room on the heap for pieces that helping threads compute, which cannot use the calling
/// thread's room in the scratch: `words` 32-bit words on a cache line's start (a vector load
/// across two lines would slow the kernels).
private func withRoom<R>(words: Int, _ body: (UnsafeMutablePointer<UInt32>) -> R) -> R {
    let room = UnsafeMutableRawPointer.allocate(byteCount: 4 * words, alignment: 64)
    defer { room.deallocate() }
    return body(room.bindMemory(to: UInt32.self, capacity: words))
}

/// Conv2DTranspose, 3x3, stride 1, "same", one output channel, no activation: the decoder's
/// last layer. `input` grids -> plain `height x width` logit images. Kernel [3, 3, 1, in].
public enum OutputConvTranspose2D {
    public static func forward(_ x: UnsafePointer<Float>, batch: Int, input: GridShape,
                               kernel: UnsafePointer<Float>, bias: UnsafePointer<Float>,
                               into y: UnsafeMutablePointer<Float>) {
        precondition(input.channels % 32 == 0, "the kernel runs 32 inputs at a time")
        vae_deconv1x_single_forward(x, Int32(batch), Int32(input.height), Int32(input.width), Int32(input.channels),
                                    kernel, bias, y)
    }

    /// `dy`: plain output gradients. The input is a ReLU output, so its gradient (grids) comes
    /// out masked. `scratch`: one image's one-channel grid.
    public static func backward(_ dy: UnsafePointer<Float>, x: UnsafePointer<Float>, batch: Int, input: GridShape,
                                kernel: UnsafePointer<Float>, kernelGradient: UnsafeMutablePointer<Float>,
                                biasGradient: UnsafeMutablePointer<Float>, scratch: UnsafeMutablePointer<Float>,
                                inputGradient: UnsafeMutablePointer<Float>) {
        precondition(input.channels % 32 == 0, "the kernel runs 32 inputs at a time")
        vae_deconv1x_single_backward(dy, x, Int32(batch), Int32(input.height), Int32(input.width), Int32(input.channels),
                                     kernel, kernelGradient, biasGradient, scratch, inputGradient)
    }
}
