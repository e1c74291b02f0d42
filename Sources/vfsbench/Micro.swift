import SwiftVFS

#if canImport(Glibc)
  import Glibc
#endif

/// Micro benchmarks of the VFS core in this process, without FUSE or the
/// kernel: the cost of the Swift side alone. Heap figures are mallinfo2
/// deltas (bytes in use before and after): the net memory a step keeps, not
/// a count of allocations.
enum Micro {
  struct Result {
    let name: String
    let nanosPerOp: Double
    let heapBytesPerOp: Double
    let ops: Int
  }

  /// glibc's mallinfo2(): uordblks (bytes in use in the arenas) + hblkhd
  /// (bytes in mmapped chunks). malloc.h is not in Swift's Glibc module, so it
  /// is called through dlsym; it returns a 10-word struct, which the x86-64
  /// ABI returns through a caller-provided pointer passed as the first
  /// argument. Elsewhere the heap figures are not measured (0).
  static let mallinfo2: (@convention(c) (UnsafeMutableRawPointer) -> UnsafeMutableRawPointer)? = {
    #if arch(x86_64)
      guard let sym = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "mallinfo2") else { return nil }
      return unsafeBitCast(
        sym, to: (@convention(c) (UnsafeMutableRawPointer) -> UnsafeMutableRawPointer).self)
    #else
      return nil
    #endif
  }()

  static func heapInUse() -> Int64 {
    guard let mallinfo2 else { return 0 }
    var fields = [Int](repeating: 0, count: 10)
    fields.withUnsafeMutableBytes { _ = mallinfo2($0.baseAddress!) }
    // arena, ordblks, smblks, hblks, hblkhd, usmblks, fsmblks, uordblks, fordblks, keepcost
    return Int64(fields[7]) + Int64(fields[4])
  }

  /// Times `body` over `ops` operations, best of `rounds` rounds (the
  /// machine is shared: the fastest round is the least disturbed).
  static func measure(
    _ name: String, ops: Int, rounds: Int = 3, setup: () throws -> Void = {},
    _ body: () throws -> Void
  ) rethrows -> Result {
    var best = Double.infinity
    var heap = 0.0
    for r in 0..<rounds {
      try setup()
      let h0 = heapInUse()
      let t0 = nowNanos()
      try body()
      let ns = Double(nowNanos() - t0) / Double(ops)
      if r == 0 { heap = Double(heapInUse() - h0) / Double(ops) }
      best = min(best, ns)
    }
    return Result(name: name, nanosPerOp: best, heapBytesPerOp: heap, ops: ops)
  }

  static func run(quick: Bool) throws -> (results: [Result], memory: [(String, Double)]) {
    let n = quick ? 2_000 : 100_000
    let vfs = try VFS.standard(options: MountOptions())
    let root = vfs.root
    let names = try (0..<n).map { i throws(Errno) in try FileName("f\(i)") }
    let absent = try (0..<n).map { i throws(Errno) in try FileName("absent\(i)") }
    let cred = Cred.root
    var out: [Result] = []
    var memory: [(String, Double)] = []

    // create + release + forget, as a FUSE CREATE followed by RELEASE and FORGET.
    var h0 = heapInUse()
    out.append(
      try measure("VFS.create + release + forget (new empty file)", ops: n, rounds: 1) {
        for name in names {
          let (inode, fh, _) = try vfs.create(
            root, name, mode: 0o644, flags: O_CREAT | O_WRONLY, cred: cred)
          vfs.release(fh)
          vfs.forget(inode.ino, count: 1)
        }
      })
    memory.append(
      (
        "heap per empty file (inode + dentry + memfs dir entry)",
        Double(heapInUse() - h0) / Double(n)
      ))

    out.append(
      try measure("Dcache.lookup, hit", ops: n * 10) {
        for _ in 0..<10 {
          for name in names {
            guard case .positive = vfs.dcache.lookup(parentIno: root.ino, name: name) else {
              fatalError("dcache lost an entry")
            }
          }
        }
      })
    out.append(
      try measure("Dcache.lookup, miss", ops: n * 10) {
        for _ in 0..<10 {
          for name in absent {
            guard case .miss = vfs.dcache.lookup(parentIno: root.ino, name: name) else {
              fatalError("unexpected dcache entry")
            }
          }
        }
      })
    out.append(
      try measure("VFS.lookup + forget, dcache hit", ops: n) {
        for name in names {
          let inode = try vfs.lookup(root, name)
          vfs.forget(inode.ino, count: 1)
        }
      })
    out.append(
      try measure(
        "VFS.lookup of an absent name (memfs lookup, negative dentry added)", ops: n, rounds: 1
      ) {
        for name in absent { _ = try? vfs.lookup(root, name) }
      })
    out.append(
      try measure("VFS.lookup of an absent name again (negative dentry hit)", ops: n) {
        for name in absent { _ = try? vfs.lookup(root, name) }
      })

    // Bytes per dentry: what shrinking the dcache gives back.
    let before = heapInUse()
    let evicted = vfs.dcache.shrink(to: 0)
    if evicted > 0, let perFile = memory.first?.1 {
      let perDentry = Double(before - heapInUse()) / Double(evicted)
      memory.append(("heap per dentry (freed by Dcache.shrink, \(evicted) entries)", perDentry))
      memory.append(
        ("heap per inode with its memfs dir entry (per file - per dentry)", perFile - perDentry))
    }

    out.append(
      try measure("VFS.unlink (dcache cold)", ops: n, rounds: 1) {
        for name in names { try vfs.unlink(root, name) }
      })

    // Pages: one file, 4 KiB writes (allocating, then overwriting) and reads.
    let pages = quick ? 2_048 : 65_536
    let (inode, fh, file) = try vfs.create(
      root, "data", mode: 0o644, flags: O_CREAT | O_RDWR, cred: cred)
    let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 4096)
    defer { buffer.deallocate() }
    Pattern.fill(buffer.baseAddress!, count: 1 << 20, offset: 0, seed: 1)
    let page = UnsafeRawBufferPointer(rebasing: buffer[0..<4096])
    h0 = heapInUse()
    out.append(
      try measure("VFS.write 4 KiB, new page", ops: pages, rounds: 1) {
        for i in 0..<pages { _ = try vfs.write(file, from: page, at: Int64(i) * 4096) }
      })
    memory.append(("heap per 4 KiB page held", Double(heapInUse() - h0) / Double(pages)))
    out.append(
      try measure("VFS.write 4 KiB, existing page", ops: pages) {
        for i in 0..<pages { _ = try vfs.write(file, from: page, at: Int64(i) * 4096) }
      })
    let into = UnsafeMutableRawBufferPointer(rebasing: buffer[0..<4096])
    out.append(
      try measure("VFS.read 4 KiB", ops: pages) {
        for i in 0..<pages { _ = try vfs.read(file, into: into, at: Int64(i) * 4096) }
      })
    let big = pages / 256
    out.append(
      try measure("VFS.write 1 MiB (FUSE max_write), existing pages", ops: big) {
        for i in 0..<big {
          _ = try vfs.write(file, from: UnsafeRawBufferPointer(buffer), at: Int64(i) << 20)
        }
      })
    out.append(
      try measure("VFS.read 1 MiB", ops: big) {
        for i in 0..<big { _ = try vfs.read(file, into: buffer, at: Int64(i) << 20) }
      })
    // The last read must be what was written last.
    guard Pattern.check(buffer.baseAddress!, count: 1 << 20, offset: 0, seed: 1) else {
      throw BenchFailure("micro: VFS.read returned wrong data")
    }
    vfs.release(fh)
    vfs.forget(inode.ino, count: 1)
    return (out, memory)
  }

  static func printTable(_ results: [Result], _ memory: [(String, Double)]) {
    let width = max(results.map(\.name.count).max() ?? 0, 20)
    print(
      "micro benchmark".rightPad(width)
        + "  " + "ns/op".leftPad(10) + "  " + "net heap B/op".leftPad(14))
    for r in results {
      print(
        r.name.rightPad(width) + "  "
          + r.nanosPerOp.short.leftPad(10) + "  " + r.heapBytesPerOp.short.leftPad(14))
    }
    print(
      "(net heap B/op: mallinfo2 bytes in use after minus before, per op; not an allocation count)")
    for (name, value) in memory { print("\(name): \(value.short) bytes") }
  }
}

extension String {
  func leftPad(_ n: Int) -> String {
    count >= n ? self : String(repeating: " ", count: n - count) + self
  }
  func rightPad(_ n: Int) -> String {
    count >= n ? self : self + String(repeating: " ", count: n - count)
  }
}
