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
        // As for inference: the pool splits the products, so OpenBLAS must not start threads of its own (they
        // would oversubscribe the cores and spin in sched_yield between calls).
        Session.keepBLASSingleThreaded()
    }

    public var threads: Int { pool.threads }
}
