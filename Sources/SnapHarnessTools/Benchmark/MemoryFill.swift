#if os(Linux)
import SnapHarnessEngine
import Glibc

/// The floor any eager restore of an image of N MiB sits on: fresh anonymous memory, one page fault and one
/// zeroed 4 KiB page at a time. CRIU's restore must at least do this for every page of the image (and copy the
/// page's bytes on top), so "restore / fill" says how far the restore is from what the kernel can do at all.
public enum MemoryFill {
    public static let pageSize = Int(sysconf(Int32(_SC_PAGESIZE)))

    /// Maps `bytes` of fresh anonymous memory, writes one byte into each page, and returns the seconds that took
    /// (mapping and faulting; not the unmapping). Transparent huge pages are refused for the mapping, as CRIU's
    /// restored anonymous memory gets 4 KiB pages too.
    public static func measure(bytes: Int) throws -> Double {
        let length = max(pageSize, (bytes + pageSize - 1) / pageSize * pageSize)
        let start = Clock.now
        guard let base = mmap(nil, length, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0),
              base != MAP_FAILED else {
            throw SystemError("mmap \(length) bytes")
        }
        _ = madvise(base, length, 15 /* MADV_NOHUGEPAGE */)
        let bytesPointer = base.assumingMemoryBound(to: UInt8.self)
        var offset = 0
        while offset < length {
            bytesPointer[offset] = 1
            offset += pageSize
        }
        let seconds = Clock.now - start
        munmap(base, length)
        return seconds
    }
}
#endif
