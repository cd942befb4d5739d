#if os(Linux)
import Foundation

/// Runs blocking work (CRIU calls, socket waits) on one thread per item and returns the results in order.
/// Threads, not Swift tasks: every item blocks for its whole life, which would starve the cooperative pool.
public enum Concurrently {
    public static func map<T: Sendable>(_ count: Int, _ body: @escaping @Sendable (Int) -> T) -> [T] {
        let box = Box<T>(count: count)
        let group = DispatchGroup()
        for i in 0..<count {
            group.enter()
            let thread = Thread {
                box.set(i, body(i))
                group.leave()
            }
            thread.stackSize = 1 << 20
            thread.start()
        }
        group.wait()
        return box.values.map { $0! }
    }

    private final class Box<T>: @unchecked Sendable {
        private let lock = NSLock()
        private var storage: [T?]
        init(count: Int) { storage = Array(repeating: nil, count: count) }
        func set(_ i: Int, _ value: T) { lock.lock(); storage[i] = value; lock.unlock() }
        var values: [T?] { lock.lock(); defer { lock.unlock() }; return storage }
    }
}
#endif
