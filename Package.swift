// swift-tools-version:6.0
import PackageDescription

// One target per concept; each idea has one home. Layering, bottom to top:
//   CZlib, CPNG, CGIF, CMPI (system libraries)
//   CKernels (hand-written C: matrix products, transposed convolutions, the exact sum's conversions)
//   Kernels (matrix products, hand-written loops; BlockExactSum, the exact-sum encoding)
//   FileIO (readFile, writeAtomically)
//   Dataset (IDX, gzip, resize)   Checkpoint (safetensors)   Media (PNG, GIF, NPY, plots)
//   Model (parameter layout, layers, forward/backward, loss; inference and its weights)
//   Evaluation (PSNR, SSIM, interpolation baselines; a model's scores, its latent encodings)
//   Distributed (Communicator: MPI through the MPIShim C target, or a single process;
//                ExactAllReduce over BlockExactSum)
//   TensorBoard (event files: record framing, the few protobuf fields)
//   Training (the trainer, CheckpointMetadata: joins model, data, checkpoints)
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
        .target(name: "Model", dependencies: ["Kernels", "CKernels", "Checkpoint"]),
        .target(name: "FileIO"),
        .target(name: "Dataset", dependencies: ["FileIO", "CZlib", .product(name: "Crypto", package: "swift-crypto")]),
        .target(name: "Checkpoint", dependencies: ["FileIO", .product(name: "Crypto", package: "swift-crypto")]),
        .target(name: "Media", dependencies: ["FileIO", "CPNG", "CGIF"]),
        .target(name: "Evaluation", dependencies: ["Dataset", "Model"]),
        .target(name: "MPIShim", dependencies: ["CMPI"]),
        .target(name: "Distributed", dependencies: ["MPIShim", "Kernels"]),
        .target(name: "Training", dependencies: ["Model", "Dataset", "Checkpoint", "Distributed", "FileIO"]),
        .target(name: "TensorBoard"),
        .executableTarget(name: "VAECommand", dependencies: [
            "Training", "Media", "Model", "Kernels", "Dataset", "Checkpoint", "Evaluation", "Distributed", "TensorBoard", "FileIO",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),

        // Readers of what the product writes (GIF, NPY), which the product itself never reads.
        .target(name: "TestSupport", dependencies: ["Media", "CGIF"], path: "Tests/TestSupport"),
        .testTarget(name: "KernelsTests", dependencies: ["Kernels", "TestSupport"]),
        .testTarget(name: "ModelTests", dependencies: ["Model", "Training", "Checkpoint", "TestSupport"], resources: [.copy("Fixtures")]),
        .testTarget(name: "DatasetTests", dependencies: ["Dataset", "TestSupport"], resources: [.copy("Fixtures")]),
        .testTarget(name: "CheckpointTests", dependencies: ["Checkpoint", "TestSupport"]),
        .testTarget(name: "MediaTests", dependencies: ["Media", "TestSupport"]),
        .testTarget(name: "EvaluationTests", dependencies: ["Evaluation", "Dataset", "TestSupport"]),
        .testTarget(name: "DistributedTests", dependencies: ["Distributed", "Kernels", "TestSupport"]),
        .testTarget(name: "TrainingTests", dependencies: ["Training"]),
        .testTarget(name: "FuzzTests", dependencies: ["Dataset", "Media", "Checkpoint", "TestSupport"]),
        .testTarget(name: "TensorBoardTests", dependencies: ["TensorBoard"]),
        .testTarget(name: "CommandLineTests", dependencies: ["Checkpoint", "Media", "Dataset", "Model", "TestSupport"]),
    ]
)
