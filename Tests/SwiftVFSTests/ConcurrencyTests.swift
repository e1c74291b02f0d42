import Dispatch
import SwiftVFS
import XCTest

@testable import SwiftVFSCore
@testable import SwiftVFSDevices
@testable import SwiftVFSFileSystems
@testable import SwiftVFSFuse

/// Several threads change the same directories at once; afterwards the tree
/// must pass the consistency checker and every call must have answered with
/// an errno the operation can give.
final class ConcurrencyTests: XCTestCase {
  /// A tiny deterministic generator per thread: the fuzzer's SplitMix64.
  typealias Rng = Fuzzer.Rng

  /// The errnos a namespace change may answer when racing others.
  static let expected: Set<Errno> = [
    .ENOENT, .EEXIST, .ENOTEMPTY, .EISDIR, .ENOTDIR, .EINVAL, .EPERM, .EBUSY,
  ]

  private func hammer(_ h: MemfsHarness, threads: Int, opsPerThread: Int) -> [String] {
    let vfs = h.vfs
    let dirs = (0..<3).map { try! h.dir(h.root, "d\($0)") }
    let unexpected = Messages()
    DispatchQueue.concurrentPerform(iterations: threads) { t in
      var rng = Rng(state: UInt64(t + 1) &* 7919)
      func name() -> FileName { try! FileName("n\(rng.below(12))") }
      for _ in 0..<opsPerThread {
        let d1 = dirs[rng.below(3)]
        let d2 = dirs[rng.below(3)]
        let op = rng.below(10)
        let error = vtErrno {
          switch op {
          case 0:
            let (inode, fh, file) = try vfs.create(
              d1, name(), mode: 0o644, flags: Int32(O_RDWR) | OpenFlags.create, cred: .root)
            let data = [UInt8](repeating: UInt8(t), count: 1 + rng.below(9000))
            _ = try data.withUnsafeBytes {
              try vfs.write(file, from: $0, at: Int64(rng.below(5000)))
            }
            vfs.release(fh)
            vfs.forget(inode.ino, count: 1)
          case 1:
            let inode = try vfs.mkdir(d1, name(), mode: 0o755, cred: .root)
            vfs.forget(inode.ino, count: 1)
          case 2:
            let inode = try vfs.lookup(d1, name())
            defer { vfs.forget(inode.ino, count: 1) }
            let l = try vfs.link(inode, d2, name())
            vfs.forget(l.ino, count: 1)
          case 3, 4:
            let flags: [RenameFlags] = [[], [], .noReplace, .exchange]
            try vfs.rename(d1, name(), d2, name(), flags: flags[rng.below(4)])
          case 5:
            try vfs.unlink(d1, name())
          case 6:
            try vfs.rmdir(d1, name())
          case 7:
            // Move a directory between the shared directories and into a
            // subdirectory of another name: loops must be refused.
            let sub = try vfs.lookup(d1, name())
            defer { vfs.forget(sub.ino, count: 1) }
            guard sub.isDirectory else { return }
            try vfs.rename(d2, name(), sub, name())
          case 8:
            let inode = try vfs.lookup(d1, name())
            defer { vfs.forget(inode.ino, count: 1) }
            if inode.type == .regular {
              _ = try vfs.setattr(inode, SetAttr(size: Int64(rng.below(20000))), cred: .root)
            } else {
              _ = try vfs.setattr(inode, SetAttr(mode: 0o700), cred: .root)
            }
          default:
            let (fh, file) = try vfs.open(d1, flags: 0, cred: .root)
            defer { vfs.release(fh) }
            var names = Set<FileName>()
            try vfs.readdir(file, from: 0) { e in
              if !names.insert(e.name).inserted {
                unexpected.append("readdir listed \(e.name) twice")
              }
              return true
            }
            if rng.below(4) == 0 { vfs.dcache.shrink(to: 8) }
          }
        }
        if let error, !ConcurrencyTests.expected.contains(error) {
          unexpected.append("op \(op): \(error)")
        }
      }
    }
    return unexpected.all
  }

  func testThreadsChangingTheSameDirectoriesLeaveAConsistentTree() throws {
    let h = try MemfsHarness()
    let problems = hammer(h, threads: 4, opsPerThread: 1500)
    XCTAssertEqual(problems, [])
    assertConsistent(h.vfs)
    XCTAssertEqual(h.vfs.openFileCount, 0)
  }

  func testWithATinyDcacheAndASizeLimit() throws {
    let h = try MemfsHarness(options: "size=64k,nr_inodes=40", dcacheCapacity: 8)
    let vfs = h.vfs
    let problems = hammer(h, threads: 4, opsPerThread: 1000)
    // ENOSPC is expected here as well.
    XCTAssertEqual(problems.filter { !$0.hasSuffix("ENOSPC") }, [])
    assertConsistent(vfs)
    XCTAssertLessThanOrEqual(vfs.dcache.stats.entries, 8)
  }

  /// `VFS.create` of an existing name looks the file up and opens it outside
  /// the namespace lock; an unlink in between frees the inode (no open file
  /// yet), and the open then succeeds on the freed inode: its writes take
  /// pages that nothing gives back.
  func testCreateOfAnExistingFileRacingItsUnlinkLeaksNothing() throws {
    let h = try MemfsHarness()
    let vfs = h.vfs
    let d = try h.dir(h.root, "d")
    let page = [UInt8](repeating: 7, count: 4096)
    DispatchQueue.concurrentPerform(iterations: 2) { t in
      for _ in 0..<20000 {
        if t == 0 {
          guard
            let (inode, fh, file) = try? vfs.create(
              d, "x", mode: 0o644, flags: Int32(O_RDWR) | OpenFlags.create, cred: .root)
          else { continue }
          _ = try? page.withUnsafeBytes { try vfs.write(file, from: $0, at: 0) }
          vfs.release(fh)
          vfs.forget(inode.ino, count: 1)
        } else {
          try? vfs.unlink(d, "x")
        }
      }
    }
    try? vfs.unlink(d, "x")
    XCTAssertEqual(h.sb.usedBlocks, 0, "pages leaked by writes to freed inodes")
    XCTAssertEqual(h.sb.usedInodes, 2)
    assertConsistent(vfs)
  }

  func testCrossingDirectoryRenamesNeverMakeALoop() throws {
    let h = try MemfsHarness()
    let vfs = h.vfs
    try h.dir(h.root, "a")
    try h.dir(h.root, "b")
    let errors = Messages()
    // One thread moves a into b and back, the other b into a and back: a
    // crossing pair of renames can never both succeed (that would be a loop).
    DispatchQueue.concurrentPerform(iterations: 2) { t in
      let (me, other): (FileName, FileName) = t == 0 ? ("a", "b") : ("b", "a")
      for _ in 0..<3000 {
        let e = vtErrno {
          let there = try vfs.resolveUnlocked(h.root, other)
          try vfs.rename(h.root, me, there, me)
          try vfs.rename(there, me, h.root, me)
        }
        if let e, e != .ENOENT, e != .EINVAL { errors.append("thread \(t): \(e)") }
      }
    }
    XCTAssertEqual(errors.all, [])
    assertConsistent(vfs)
    let top = try h.names(h.root).sorted()
    if top == ["a", "b"] { return }
    XCTAssertEqual(top.count, 1, "\(top)")
    let inner = try h.names(try h.walk(top[0]))
    XCTAssertEqual(inner.count, 1, "the other one is inside it")
    XCTAssertEqual(Set(top + inner), ["a", "b"])
  }
}

/// Messages collected from several threads.
final class Messages: @unchecked Sendable {
  private let lock = Lock()
  private var items: [String] = []
  func append(_ s: String) { lock.withLock { items.append(s) } }
  var all: [String] { lock.withLock { items } }
}
