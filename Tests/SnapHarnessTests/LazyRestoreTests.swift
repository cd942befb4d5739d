import Foundation
import Glibc
import SnapHarnessEngine
import Testing

/// Restores are lazy by default from 256 MiB of memory (`RestoreSource.lazyThresholdBytes`), as Lambda loads large
/// snapshots on demand, and eager below; `--lazy` / `--no-lazy` choose.
@Suite(.serialized, .enabled(if: TestEnvironment.canCheckpoint && CLI.available && LazyPages.userfaultfdAvailable(),
                             "needs root, CRIU and userfaultfd (run `make test` as root)"))
struct LazyRestoreTests {
    @Test func largeSnapshotsRestoreLazilyByDefault() throws {
        try leavesNothingBehind {
            let heap = ["run", CLI.example("bench/heap"), "--memory", "1024", "--env", "HEAP_MB=300", "--json"]
            let auto = try CLI.run(heap)
            #expect(auto.exitCode == 0, "\(auto)")
            #expect(auto.stderr.contains("snapharness: restoring lazily: the snapshot holds"), "\(auto)")
            #expect(auto.report?.copies.first?.allPagesMs != nil, "a lazy copy reports when its last page arrived: \(auto)")
            let eager = try CLI.run(heap + ["--no-lazy"])
            #expect(eager.exitCode == 0, "\(eager)")
            #expect(!eager.stderr.contains("restoring lazily") && eager.report?.copies.first?.allPagesMs == nil, "\(eager)")
            let small = try CLI.run(["run", CLI.example("hello"), "--json"])
            #expect(small.exitCode == 0 && !small.stderr.contains("restoring lazily")
                    && small.report?.copies.first?.allPagesMs == nil, "a small snapshot stays eager: \(small)")
        }
    }
}
