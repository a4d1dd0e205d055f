import Stylize

/// The threads and scratch memory the training kernels run on: the inference engine's fork-join `ComputePool`
/// and `Workspace` (its two scratch slots hold one band of im2col columns and their gradient), so training uses
/// the same GEMM lowering and threading as inference. One context per training loop; not for concurrent use.
public final class TrainingContext {
    let pool: ComputePool
    let workspace: Workspace

    public init(threads: Int = 1) {
        pool = ComputePool(threads: threads)
        workspace = Workspace()
    }

    public var threads: Int { pool.threads }
}
