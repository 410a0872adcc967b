import Kernels

/// Every activation, patch matrix and activation gradient of one micro-batch, allocated once
/// so that a training step allocates nothing. Not shared between threads. The decoder's
/// grids keep the zero border they are allocated with: kernels write only their interiors.
public final class Workspace {
    public let capacity: Int
    public let shape: ModelShape
    private let storage: UnsafeMutableBufferPointer<Float>

    // Forward.
    let conv1Patches, conv1Out, conv2Patches, conv2Out, hidden: UnsafeMutablePointer<Float>
    public let mean, logVar, z: UnsafeMutablePointer<Float>
    let decoderDense, decoderGrid, deconv1Grid, deconv2Grid: UnsafeMutablePointer<Float>
    public let logits: UnsafeMutablePointer<Float>
    // Backward.
    let dLogits, dDeconv2Grid, dDeconv1Grid, dDecoderDense, dZ, dMean, dLogVar, dHidden, dConv2, dConv1: UnsafeMutablePointer<Float>
    // Scratch of the transposed convolutions: repacked kernels and operands, and one image's logit gradient grid.
    let convolutionScratch, dLogitsGrid: UnsafeMutablePointer<Float>

    public init(capacity n: Int, shape: ModelShape) {
        precondition(n > 0)
        capacity = n
        self.shape = shape
        let l = shape.latentDimension, hiddenWidth = shape.encoderWidth
        // One allocation, carved in this order: `at` binds each buffer's name to its offset.
        // Each buffer starts on a cache line, as do the grids' cells of 16 channels and more:
        // a vector load across two lines costs the kernels two.
        var total = 0
        func place(_ count: Int) -> Int {
            defer { total += (count + Workspace.lineFloats - 1) / Workspace.lineFloats * Workspace.lineFloats }
            return total
        }
        let conv1Width = VAE.conv1.smallPositions * VAE.conv1Channels
        let at = (
            conv1Patches: place(n * VAE.conv1.smallPositions * VAE.conv1.patchWidth), conv1Out: place(n * conv1Width),
            conv2Patches: place(n * VAE.conv2.smallPositions * VAE.conv2.patchWidth), conv2Out: place(n * VAE.flatWidth),
            hidden: place(n * hiddenWidth),
            mean: place(n * l), logVar: place(n * l), z: place(n * l),
            decoderDense: place(n * VAE.decoderWidth), decoderGrid: place(n * VAE.decoderGrid.count),
            deconv1Grid: place(n * VAE.deconv1Grid.count), deconv2Grid: place(n * VAE.deconv2Grid.count),
            logits: place(n * VAE.outputPixels),
            dLogits: place(n * VAE.outputPixels), dDeconv2Grid: place(n * VAE.deconv2Grid.count),
            dDeconv1Grid: place(n * VAE.deconv1Grid.count), dDecoderDense: place(n * VAE.decoderWidth),
            dZ: place(n * l), dMean: place(n * l), dLogVar: place(n * l), dHidden: place(n * hiddenWidth),
            dConv2: place(n * VAE.flatWidth), dConv1: place(n * conv1Width),
            convolutionScratch: place(max(
                UpsamplingConvTranspose2D.scratchCount(input: VAE.decoderGrid, outputs: VAE.decoderChannels),
                UpsamplingConvTranspose2D.scratchCount(input: VAE.deconv1Grid, outputs: VAE.deconv2Channels))),
            dLogitsGrid: place(GridShape(height: VAE.outputSide, width: VAE.outputSide, channels: 1).count))
        storage = UnsafeMutableRawBufferPointer.allocate(byteCount: total * MemoryLayout<Float>.stride,
                                                         alignment: Workspace.lineFloats * MemoryLayout<Float>.stride)
            .bindMemory(to: Float.self)
        storage.initialize(repeating: 0)
        let base = storage.baseAddress!
        conv1Patches = base + at.conv1Patches
        conv1Out = base + at.conv1Out
        conv2Patches = base + at.conv2Patches
        conv2Out = base + at.conv2Out
        hidden = base + at.hidden
        mean = base + at.mean
        logVar = base + at.logVar
        z = base + at.z
        decoderDense = base + at.decoderDense
        decoderGrid = base + at.decoderGrid
        deconv1Grid = base + at.deconv1Grid
        deconv2Grid = base + at.deconv2Grid
        logits = base + at.logits
        dLogits = base + at.dLogits
        dDeconv2Grid = base + at.dDeconv2Grid
        dDeconv1Grid = base + at.dDeconv1Grid
        dDecoderDense = base + at.dDecoderDense
        dZ = base + at.dZ
        dMean = base + at.dMean
        dLogVar = base + at.dLogVar
        dHidden = base + at.dHidden
        dConv2 = base + at.dConv2
        dConv1 = base + at.dConv1
        convolutionScratch = base + at.convolutionScratch
        dLogitsGrid = base + at.dLogitsGrid
    }

    /// Floats of a cache line.
    private static let lineFloats = 16

    deinit { UnsafeMutableRawPointer(storage.baseAddress!).deallocate() }
}
