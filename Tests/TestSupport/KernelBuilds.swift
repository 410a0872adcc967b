import Kernels
import Testing

/// Makes the calling thread use `build`'s kernels (end with `KernelBuild.endUseOnThisThread()`);
/// a build this CPU lacks cancels the test case with a message naming it, so that it shows as
/// skipped rather than passed.
public func useKernels(_ build: KernelBuild) throws {
    guard build.isAvailable else {
        try Test.cancel("this CPU lacks the \(build) kernel build (\(build.requirement)): not checked here")
    }
    try build.useOnThisThread()
}
