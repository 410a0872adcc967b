import Kernels

/// Every activation, patch matrix and activation gradient of one micro-batch, allocated once
/// so that a training step allocates nothing. Not shared between threads. The decoder's
/// grids keep the zero border they are allocated with: kernels write only their interiors.
public final class Workspace {
    public let capacity: Int
    public let latentDimension: Int
    private let storage: UnsafeMutableBufferPointer<Float>

    // Forward.
    let conv1Patches, conv1Out, conv2Patches, conv2Out, hidden: UnsafeMutablePointer<Float>
    public let mean, logVar, z: UnsafeMutablePointer<Float>
    let decoderDense, decoderGrid, deconv1Grid, deconv2Grid: UnsafeMutablePointer<Float>
    public let logits: UnsafeMutablePointer<Float>
    // Backward.
    let dLogits, dDeconv2Grid, dDeconv1Grid, dDecoderDense, dZ, dMean, dLogVar, dHidden, dConv2, dConv1: UnsafeMutablePointer<Float>
    // Scratch of the transposed convolutions: a repacked kernel, and one image's logit gradient grid.
    let convolutionScratch, dLogitsGrid: UnsafeMutablePointer<Float>

    public init(capacity n: Int, latentDimension l: Int) {
        precondition(n > 0 && l > 0)
        capacity = n
        latentDimension = l
        let sizes: [Int] = [
            n * VAE.conv1.smallPositions * VAE.conv1.patchWidth, n * 16 * VAE.conv1Channels,
            n * VAE.conv2.smallPositions * VAE.conv2.patchWidth, n * VAE.flatWidth, n * VAE.hiddenWidth,
            n * l, n * l, n * l,
            n * VAE.decoderWidth, n * VAE.decoderGrid.count, n * VAE.deconv1Grid.count, n * VAE.deconv2Grid.count,
            n * VAE.outputPixels,
            n * VAE.outputPixels, n * VAE.deconv2Grid.count, n * VAE.deconv1Grid.count, n * VAE.decoderWidth,
            n * l, n * l, n * l, n * VAE.hiddenWidth, n * VAE.flatWidth, n * 16 * VAE.conv1Channels,
            UpsamplingConvTranspose2D.scratchCount(inputs: VAE.decoderChannels, outputs: VAE.decoderChannels),
            GridShape(height: VAE.outputSide, width: VAE.outputSide, channels: 1).count,
        ]
        storage = .allocate(capacity: sizes.reduce(0, +))
        storage.initialize(repeating: 0)
        var next = storage.baseAddress!
        var buffers: [UnsafeMutablePointer<Float>] = []
        for size in sizes {
            buffers.append(next)
            next += size
        }
        (conv1Patches, conv1Out, conv2Patches, conv2Out, hidden) = (buffers[0], buffers[1], buffers[2], buffers[3], buffers[4])
        (mean, logVar, z) = (buffers[5], buffers[6], buffers[7])
        (decoderDense, decoderGrid, deconv1Grid, deconv2Grid, logits) = (buffers[8], buffers[9], buffers[10], buffers[11], buffers[12])
        (dLogits, dDeconv2Grid, dDeconv1Grid, dDecoderDense) = (buffers[13], buffers[14], buffers[15], buffers[16])
        (dZ, dMean, dLogVar, dHidden, dConv2, dConv1) = (buffers[17], buffers[18], buffers[19], buffers[20], buffers[21], buffers[22])
        (convolutionScratch, dLogitsGrid) = (buffers[23], buffers[24])
    }

    deinit { storage.deallocate() }
}
