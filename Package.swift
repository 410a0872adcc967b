// swift-tools-version:6.0
import PackageDescription

// One target per concept; each idea has one home. Layering, bottom to top:
//   CZlib, CPNG, CGIF, CMPI (system libraries)
//   CKernels (hand-written C: matrix products, transposed convolutions, the exact sum's conversions)
//   Kernels (matrix products, hand-written loops; BlockExactSum, the exact-sum encoding)
//   FileIO (readFile, writeAtomically)
//   Model (its architecture and parameter layout, layers, forward/backward, loss, Adam; inference; no files)
//   Dataset (IDX, gzip, resize to the model's sides)   Checkpoint (safetensors)   Media (PNG, GIF, NPY, plots)
//   Evaluation (PSNR, SSIM, interpolation baselines, the digit reader; a model's scores, its latent encodings)
//   Distributed (Communicator: MPI through the MPIShim C target, or a single process;
//                ExactAllReduce over BlockExactSum)
//   TensorBoard (event files: record framing, the few protobuf fields)
//   Export (ONNX files of a trained model, with TensorBoard's protobuf encoder)
//   Training (the run's settings, the trainer, CheckpointMetadata, weights from files: joins model, data, checkpoints)
//   VAECommand (the `vae` executable, imported by nothing)
let package = Package(
    name: "vae",
    products: [
        .executable(name: "vae", targets: ["VAECommand"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
    ],
    targets: [
        .systemLibrary(name: "CZlib", path: "Sources/CZlib", pkgConfig: "zlib",
                       providers: [.apt(["zlib1g-dev"])]),
        .systemLibrary(name: "CMPI", path: "Sources/CMPI", pkgConfig: "ompi-c",
                       providers: [.apt(["libopenmpi-dev"])]),
        .systemLibrary(name: "CGIF", path: "Sources/CGIF", pkgConfig: "libgif",
                       providers: [.apt(["libgif-dev"])]),
        .systemLibrary(name: "CPNG", path: "Sources/CPNG", pkgConfig: "libpng",
                       providers: [.apt(["libpng-dev"])]),

        .target(name: "CKernels"),
        .target(name: "Kernels", dependencies: ["CKernels"]),
        .target(name: "Model", dependencies: ["Kernels"]),
        .target(name: "FileIO"),
        .target(name: "Dataset", dependencies: ["FileIO", "Model", "CZlib", .product(name: "Crypto", package: "swift-crypto")]),
        .target(name: "Checkpoint", dependencies: ["FileIO", .product(name: "Crypto", package: "swift-crypto")]),
        .target(name: "Media", dependencies: ["FileIO", "CPNG", "CGIF"]),
        .target(name: "Evaluation", dependencies: ["Dataset", "Model", "Kernels", "Checkpoint"]),
        .target(name: "MPIShim", dependencies: ["CMPI"]),
        .target(name: "Distributed", dependencies: ["MPIShim", "Kernels"]),
        .target(name: "Training", dependencies: ["Model", "Kernels", "Dataset", "Checkpoint", "Distributed", "FileIO"]),
        .target(name: "TensorBoard"),
        .target(name: "Export", dependencies: ["Model", "TensorBoard"]),
        .executableTarget(name: "VAECommand", dependencies: [
            "Training", "Media", "Model", "Kernels", "Dataset", "Checkpoint", "Evaluation", "Distributed", "TensorBoard", "FileIO", "Export",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),

        // Readers of what the product writes (GIF, NPY, a whole tensor), which the product itself never reads so.
        .target(name: "TestSupport", dependencies: ["Kernels", "Media", "Checkpoint", "CGIF"], path: "Tests/TestSupport"),
        .testTarget(name: "KernelsTests", dependencies: ["Kernels", "TestSupport"]),
        .testTarget(name: "ModelTests", dependencies: ["Model", "Kernels", "Checkpoint", "TestSupport"], resources: [.copy("Fixtures")]),
        .testTarget(name: "DatasetTests", dependencies: ["Dataset", "TestSupport"], resources: [.copy("Fixtures")]),
        .testTarget(name: "CheckpointTests", dependencies: ["Checkpoint", "TestSupport"]),
        .testTarget(name: "MediaTests", dependencies: ["Media", "TestSupport"]),
        .testTarget(name: "EvaluationTests", dependencies: ["Evaluation", "Dataset", "Model", "Checkpoint", "TestSupport"]),
        .testTarget(name: "DistributedTests", dependencies: ["Distributed", "Kernels", "TestSupport"]),
        .testTarget(name: "TrainingTests", dependencies: ["Training"]),
        .testTarget(name: "FuzzTests", dependencies: ["Dataset", "Media", "Checkpoint", "TestSupport"]),
        .testTarget(name: "TensorBoardTests", dependencies: ["TensorBoard"]),
        .testTarget(name: "CommandLineTests", dependencies: ["Checkpoint", "Media", "Dataset", "Model", "Training", "TestSupport"]),
    ]
)
