#if canImport(Glibc)
  import Glibc
#endif

/// Sizes of one run (`--quick` shrinks them all).
struct Sizes {
  var files = 10_000
  var treeDepth = 3
  var treeFanout = 10
  var smallFiles = 1_000
  var smallFileSize = 4096
  var seqMiB = 512
  var fioMiB = 256
  var fioSeconds = 20
  var scaleCap = 1_000_000
  var scaleStat = 10_000
  var reps = 5
  var writebackCache = false
  /// Quick runs time fewer fio variants (1 job only).
  var quick = false

  static let quick = Sizes(
    files: 500, treeDepth: 2, treeFanout: 6, smallFiles: 100, smallFileSize: 4096, seqMiB: 16,
    fioMiB: 16, fioSeconds: 1, scaleCap: 2_000, scaleStat: 500, reps: 2, quick: true)
}

/// Where one workload runs: one file system, one repetition.
struct Context {
  /// The target's name (the column).
  let target: String
  let root: String
  let rep: Int
  /// The vfsmount daemon's pid (nil on the other targets): for RSS figures.
  let daemonPid: Int32?
  /// Counts the FUSE requests of each timed section (vfsmount targets).
  let probe: RequestProbe?
  let sizes: Sizes
  let results: Results

  /// The start of a timed section: zeroes the request table, then the clock.
  func start() -> UInt64 {
    probe?.begin()
    return nowNanos()
  }

  /// The start of a section timed by a `Stopwatch`.
  func begin() { probe?.begin() }

  /// Records a section's time; the requests since `start()` (or those
  /// given) go to the row, per `requestOps` operations (default `ops`).
  func record(
    _ group: String, _ key: String, _ title: String, nanos: UInt64, ops: Int, bytes: Int = 0,
    target: Double? = nil, verified: Bool? = nil
  ) {
    record(
      group, key, title, nanos: Double(nanos), ops: ops, bytes: bytes, target: target,
      verified: verified)
  }

  func record(
    _ group: String, _ key: String, _ title: String, nanos: Double, ops: Int, bytes: Int = 0,
    target: Double? = nil, verified: Bool? = nil, iops: Bool = false, requestOps: Int? = nil,
    requests: RequestCounts? = nil
  ) {
    // `requests`: taken at the end of the timed part, before untimed checks.
    let counts = requests ?? probe?.end()
    results.record(
      self.target, group: group, key: key, title: title, nanos: nanos, ops: ops, bytes: bytes,
      target: target, verified: verified, iops: iops)
    if let counts { results.addRequests(self.target, key: key, counts, ops: requestOps ?? ops) }
  }

  func skip(_ group: String, _ key: String, _ title: String, why: String, target: Double? = nil) {
    results.skip(self.target, group: group, key: key, title: title, why: why, target: target)
  }

  var rss: UInt64? { daemonPid.flatMap { procStatusBytes($0, "VmRSS") } }
}

/// A workload: a name for --only, how many repetitions, and the body that
/// runs one repetition on one file system.
struct Workload {
  let name: String
  let summary: String
  let repetitions: (Sizes) -> Int
  let run: (Context) throws -> Void

  nonisolated(unsafe) static let all: [Workload] = [
    Workload(
      name: "metadata", summary: "create, stat warm/cold, list x20, unlink N empty files",
      repetitions: { $0.reps }, run: Workloads.metadata),
    Workload(
      name: "tree", summary: "mkdir and rmdir a tree (depth 3, fan-out 10: 1,110 dirs)",
      repetitions: { $0.reps }, run: Workloads.tree),
    Workload(
      name: "smallfiles", summary: "write 1,000 files of 4 KiB, read them back cold",
      repetitions: { $0.reps }, run: Workloads.smallFiles),
    Workload(
      name: "seq", summary: "sequential write + fsync, read cold, warm and O_DIRECT",
      repetitions: { max(1, min($0.reps, 3)) }, run: Workloads.sequential),
    Workload(
      name: "fio", summary: "fio 4 KiB randread/randwrite, psync and O_DIRECT, 1 and 2 jobs",
      repetitions: { _ in 1 }, run: Fio.run),
    Workload(
      name: "scale", summary: "10k/100k/1M files in one dir: create, list, stat 10k, unlink",
      repetitions: { _ in 1 }, run: Workloads.scale),
    Workload(
      name: "sparse", summary: "1 TiB sparse file written at 100 scattered offsets",
      repetitions: { $0.reps }, run: Workloads.sparse),
  ]
}

enum Workloads {
  static func check(_ ok: Bool, _ what: @autoclosure () -> String) throws {
    if !ok { throw BenchFailure("\(what()): \(errnoText())") }
  }

  static func openDir(_ path: String) throws -> Int32 {
    let fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
    try check(fd >= 0, "open \(path)")
    return fd
  }

  static func freshDir(_ path: String) throws {
    removeTree(path)
    try check(mkdir(path, 0o755) == 0, "mkdir \(path)")
  }

  /// Entries in a directory (not . and ..), via opendir/readdir.
  static func countEntries(_ path: String) throws -> Int {
    guard let d = opendir(path) else { throw BenchFailure("opendir \(path): \(errnoText())") }
    defer { closedir(d) }
    var n = 0
    while let e = readdir(d) {
      let isDot = withUnsafeBytes(of: e.pointee.d_name) { b in
        b[0] == 0x2E && (b[1] == 0 || (b[1] == 0x2E && b[2] == 0))
      }
      if !isDot { n += 1 }
    }
    return n
  }

  // MARK: - metadata

  /// N empty files in one directory: create (open O_CREAT + close), stat
  /// all warm and after drop_caches, list 20 times, unlink all.
  static func metadata(_ c: Context) throws {
    let n = c.sizes.files
    let names = NameTable(count: n)
    let dir = c.root + "/meta"
    try freshDir(dir)
    let dfd = try openDir(dir)
    defer { close(dfd) }
    let k = n >= 1000 ? "\(n / 1000)k" : "\(n)"
    let g = "metadata"

    let rssBefore = c.rss
    var t0 = c.start()
    for i in 0..<n {
      let fd = openat(dfd, names[i], O_CREAT | O_WRONLY | O_CLOEXEC, 0o644)
      try check(fd >= 0, "create")
      close(fd)
    }
    c.record(g, "create", "create \(k) empty files", nanos: nowNanos() - t0, ops: n, target: 10)
    if c.rep == 0, let before = rssBefore, let after = c.rss {
      c.results.addMemory(
        "daemon RSS per empty file (inode + dentry + dir entry), \(k) files",
        Double(Int64(after) - Int64(before)) / Double(n), note: "VmRSS delta / files")
    }

    func statAll() throws -> Bool {
      var st = stat()
      var ok = true
      for i in 0..<n {
        try check(fstatat(dfd, names[i], &st, 0) == 0, "stat")
        if st.st_mode & S_IFMT != S_IFREG || st.st_size != 0 { ok = false }
      }
      return ok
    }
    t0 = c.start()
    var ok = try statAll()
    c.record(
      g, "stat-warm", "stat \(k), warm", nanos: nowNanos() - t0, ops: n, target: 1.1, verified: ok)

    try dropCaches()
    t0 = c.start()
    ok = try statAll()
    c.record(
      g, "stat-cold", "stat \(k), after drop_caches", nanos: nowNanos() - t0, ops: n, target: 10,
      verified: ok)

    t0 = c.start()
    ok = true
    for _ in 0..<20 where try countEntries(dir) != n { ok = false }
    c.record(
      g, "list", "list a \(k) dir (x20)", nanos: nowNanos() - t0, ops: 20 * n, target: 0.8,
      verified: ok)

    t0 = c.start()
    for i in 0..<n { try check(unlinkat(dfd, names[i], 0) == 0, "unlink") }
    c.record(g, "unlink", "unlink \(k)", nanos: nowNanos() - t0, ops: n, target: 6)
    rmdir(dir)
  }

  // MARK: - tree

  /// mkdir a tree breadth first, then rmdir it deepest first.
  static func tree(_ c: Context) throws {
    let base = c.root + "/tree"
    try freshDir(base)
    var levels: [[String]] = [[base]]
    for _ in 0..<c.sizes.treeDepth {
      levels.append(
        levels.last!.flatMap { p in (0..<c.sizes.treeFanout).map { "\(p)/d\($0)" } })
    }
    let paths = levels.dropFirst().flatMap { $0 }.map { Array($0.utf8CString) }
    let n = paths.count
    let g = "tree"
    var t0 = c.start()
    for p in paths { try check(mkdir(p, 0o755) == 0, "mkdir") }
    c.record(g, "mkdir-tree", "mkdir tree (\(n) dirs)", nanos: nowNanos() - t0, ops: n, target: 10)
    let ok = try countEntries(base) == c.sizes.treeFanout
    t0 = c.start()
    for p in paths.reversed() { try check(rmdir(p) == 0, "rmdir") }
    let elapsed = nowNanos() - t0
    let empty = try countEntries(base) == 0
    c.record(
      g, "rmdir-tree", "rmdir tree (\(n) dirs)", nanos: elapsed, ops: n, target: 8,
      verified: ok && empty)
    rmdir(base)
  }

  // MARK: - small files

  /// Writes N small files (open O_CREAT|O_TRUNC, write, close), then reads
  /// them back after drop_caches and checks every byte (check not timed).
  static func smallFiles(_ c: Context) throws {
    let n = c.sizes.smallFiles
    let size = c.sizes.smallFileSize
    let names = NameTable(count: n)
    let dir = c.root + "/small"
    try freshDir(dir)
    let dfd = try openDir(dir)
    defer { close(dfd) }
    let out = AlignedBuffer(count: n * size)
    for i in 0..<n {
      Pattern.fill(out.pointer + i * size, count: size, offset: 0, seed: UInt64(i) &+ 77)
    }
    let input = AlignedBuffer(count: n * size + size)
    let g = "smallfiles"
    let label = "\(n) files of \(size / 1024) KiB"

    let t0 = c.start()
    for i in 0..<n {
      let fd = openat(dfd, names[i], O_CREAT | O_WRONLY | O_TRUNC | O_CLOEXEC, 0o644)
      try check(fd >= 0, "create")
      try check(write(fd, out.pointer + i * size, size) == size, "write")
      close(fd)
    }
    c.record(
      g, "small-write", "write \(label)", nanos: nowNanos() - t0, ops: n, bytes: n * size,
      target: 8)

    let (elapsed, ok) = try readSmallFiles(c, dfd, names, count: n, size: size, into: input)
    c.record(
      g, "small-read", "read \(label), cold", nanos: elapsed, ops: n, bytes: n * size,
      target: 12, verified: ok)
    for i in 0..<n { unlinkat(dfd, names[i], 0) }
    rmdir(dir)
  }

  /// After drop_caches, reads the `count` files `names` of `size` bytes
  /// (pattern seeds i + 77) into `input`; returns (nanoseconds of the reads,
  /// every size and byte right).
  static func readSmallFiles(
    _ c: Context, _ dfd: Int32, _ names: NameTable, count n: Int, size: Int,
    into input: AlignedBuffer
  ) throws -> (UInt64, Bool) {
    try dropCaches()
    var sizesOK = true
    let t0 = c.start()
    for i in 0..<n {
      let fd = openat(dfd, names[i], O_RDONLY | O_CLOEXEC)
      try check(fd >= 0, "open")
      // Ask for more than the file holds: the short read checks the size too.
      let got = read(fd, input.pointer + i * size, 2 * size)
      close(fd)
      if got != size { sizesOK = false }
    }
    let elapsed = nowNanos() - t0
    var ok = sizesOK
    for i in 0..<n
    where !Pattern.check(
      input.pointer + i * size, count: size, offset: 0, seed: UInt64(i) &+ 77)
    {
      ok = false
    }
    return (elapsed, ok)
  }

  // MARK: - sequential

  /// Reads `path` (`total` bytes of `Pattern` with `seed`) in `chunk`s,
  /// then checks nothing lies past the end; returns (nanoseconds without
  /// the checks, all right), or nil when O_DIRECT is refused (EINVAL).
  static func readSequential(
    _ c: Context, path: String, total: Int, chunk: Int, buffer: AlignedBuffer, seed: UInt64,
    flags: Int32
  ) throws -> (UInt64, Bool)? {
    var watch = Stopwatch()
    c.begin()
    watch.start()
    let fd = open(path, O_RDONLY | O_CLOEXEC | flags)
    if fd < 0, flags & oDirect != 0, errno == EINVAL { return nil }
    try check(fd >= 0, "open \(path)")
    defer { close(fd) }
    var ok = true
    var off = 0
    while off < total {
      errno = 0
      let n = preadFully(fd, buffer.pointer, chunk, Int64(off))
      if n == 0, off == 0, flags & oDirect != 0, errno == EINVAL { return nil }
      watch.pause()
      if n != chunk
        || !Pattern.check(buffer.pointer, count: chunk, offset: UInt64(off), seed: seed)
      {
        ok = false
      }
      watch.resume()
      if n != chunk { break }
      off += chunk
    }
    // Nothing past the end.
    watch.pause()
    if preadFully(fd, buffer.pointer, chunk, Int64(total)) != 0 { ok = false }
    return (watch.elapsed(), ok)
  }

  /// One big file in 1 MiB writes, then fsync; read back cold (after
  /// drop_caches), warm (page cache), and with O_DIRECT; every read checked.
  static func sequential(_ c: Context) throws {
    let chunk = 1 << 20
    let total = c.sizes.seqMiB * chunk
    let path = c.root + "/seq.dat"
    let seed: UInt64 = 0xC0FFEE &+ UInt64(c.rep)
    let buffer = AlignedBuffer(count: chunk)
    let g = "seq"
    let label = "\(c.sizes.seqMiB) MiB"
    unlink(path)

    let rssBefore = c.rss
    var watch = Stopwatch()
    c.begin()
    watch.start()
    let fd = open(path, O_CREAT | O_WRONLY | O_TRUNC | O_CLOEXEC, 0o644)
    try check(fd >= 0, "create \(path)")
    var off = 0
    while off < total {
      watch.pause()
      Pattern.fill(buffer.pointer, count: chunk, offset: UInt64(off), seed: seed)
      watch.resume()
      try check(pwriteFully(fd, buffer.pointer, chunk, Int64(off)) == chunk, "write")
      off += chunk
    }
    try check(fsync(fd) == 0, "fsync")
    close(fd)
    c.record(
      g, "seq-write", "sequential write \(label) + fsync", nanos: watch.elapsed(),
      ops: total / chunk,
      bytes: total, target: 1.5)
    if c.rep == 0, let before = rssBefore, let after = c.rss {
      c.results.addMemory(
        "daemon RSS per 4 KiB of file data held (\(label) file)",
        Double(Int64(after) - Int64(before)) / Double(total / 4096),
        note: "VmRSS delta / pages; 4096 = no overhead")
    }

    func readBack(flags: Int32) throws -> (UInt64, Bool)? {
      try readSequential(
        c, path: path, total: total, chunk: chunk, buffer: buffer, seed: seed, flags: flags)
    }

    try dropCaches()
    if let (ns, ok) = try readBack(flags: 0) {
      c.record(
        g, "seq-read-cold", "sequential read \(label), cold", nanos: ns, ops: total / chunk,
        bytes: total, target: 2.5, verified: ok)
    }
    if let (ns, ok) = try readBack(flags: 0) {
      c.record(
        g, "seq-read-warm", "sequential read \(label), warm", nanos: ns, ops: total / chunk,
        bytes: total, verified: ok)
    }
    if let (ns, ok) = try readBack(flags: oDirect) {
      c.record(
        g, "seq-read-direct", "sequential read \(label), O_DIRECT", nanos: ns,
        ops: total / chunk, bytes: total, target: 1.5, verified: ok)
    } else {
      c.skip(
        g, "seq-read-direct", "sequential read \(label), O_DIRECT",
        why: "O_DIRECT not supported (EINVAL)", target: 1.5)
    }
    unlink(path)
  }

  // MARK: - scale

  /// One directory at 10k, 100k, 1M files (up to --scale): time per create,
  /// per listed entry, per stat of a random 10,000, per unlink.
  static func scale(_ c: Context) throws {
    var steps = [10_000, 100_000, 1_000_000].filter { $0 <= c.sizes.scaleCap }
    if steps.isEmpty { steps = [c.sizes.scaleCap] }
    let names = NameTable(count: steps.last!)
    let dir = c.root + "/scale"
    let g = "scale"
    for n in steps {
      try freshDir(dir)
      let dfd = try openDir(dir)
      defer { close(dfd) }
      let k = n >= 1_000_000 ? "\(n / 1_000_000)M" : n >= 1000 ? "\(n / 1000)k" : "\(n)"
      let rssBefore = c.rss
      var t0 = c.start()
      for i in 0..<n {
        let fd = openat(dfd, names[i], O_CREAT | O_WRONLY | O_CLOEXEC, 0o644)
        try check(fd >= 0, "create")
        close(fd)
      }
      c.record(g, "scale-create-\(n)", "scale \(k): create", nanos: nowNanos() - t0, ops: n)
      if let before = rssBefore, let after = c.rss {
        c.results.addMemory(
          "daemon RSS per empty file at \(k) files",
          Double(Int64(after) - Int64(before)) / Double(n),
          note: "VmRSS delta / files")
      }
      t0 = c.start()
      let listed = try countEntries(dir)
      c.record(
        g, "scale-list-\(n)", "scale \(k): list (per entry)", nanos: nowNanos() - t0, ops: n,
        verified: listed == n)
      var rng = SplitMix64(seed: 42)
      let picks = (0..<min(c.sizes.scaleStat, n)).map { _ in Int(rng.next() % UInt64(n)) }
      var st = stat()
      t0 = c.start()
      for i in picks { try check(fstatat(dfd, names[i], &st, 0) == 0, "stat") }
      c.record(
        g, "scale-stat-\(n)", "scale \(k): stat \(picks.count) random", nanos: nowNanos() - t0,
        ops: picks.count)
      t0 = c.start()
      for i in 0..<n { try check(unlinkat(dfd, names[i], 0) == 0, "unlink") }
      c.record(g, "scale-unlink-\(n)", "scale \(k): unlink", nanos: nowNanos() - t0, ops: n)
    }
    rmdir(dir)
  }

  // MARK: - sparse

  /// A 1 TiB file (ftruncate) written with 4 KiB at 100 scattered offsets and
  /// fsynced; then read back cold. Checks the data, a hole, the size, and
  /// that the blocks used are only the ones written.
  static func sparse(_ c: Context) throws {
    let path = c.root + "/sparse.dat"
    let size: Int64 = 1 << 40
    let block = 4096
    let offsets = (0..<100).map { i -> Int64 in
      let raw = Int64(i) * (size / 100) + Int64(i) * 7 * 4096
      return min(raw & ~Int64(4095), size - Int64(block))
    }
    let buffer = AlignedBuffer(count: block)
    let g = "sparse"
    unlink(path)
    let rssBefore = c.rss
    var watch = Stopwatch()
    c.begin()
    watch.start()
    let fd = open(path, O_CREAT | O_RDWR | O_TRUNC | O_CLOEXEC, 0o644)
    try check(fd >= 0, "create \(path)")
    try check(ftruncate(fd, off_t(size)) == 0, "ftruncate 1 TiB")
    for off in offsets {
      watch.pause()
      Pattern.fill(buffer.pointer, count: block, offset: UInt64(off), seed: 99)
      watch.resume()
      try check(pwriteFully(fd, buffer.pointer, block, off) == block, "pwrite")
    }
    try check(fsync(fd) == 0, "fsync")
    close(fd)
    c.record(
      g, "sparse-write", "sparse 1 TiB: truncate, 100 x 4 KiB writes, fsync",
      nanos: watch.elapsed(), ops: 100, bytes: 100 * block)
    if c.rep == 0, let before = rssBefore, let after = c.rss {
      c.results.addMemory(
        "daemon RSS growth for a 1 TiB sparse file with 400 KiB written",
        Double(Int64(after) - Int64(before)),
        note: "at most ~400 KiB expected; less when freed memory is reused")
    }

    try dropCaches()
    var ok = true
    c.begin()
    watch.start()
    let rfd = open(path, O_RDONLY | O_CLOEXEC)
    try check(rfd >= 0, "open \(path)")
    for off in offsets {
      let n = preadFully(rfd, buffer.pointer, block, off)
      watch.pause()
      if n != block || !Pattern.check(buffer.pointer, count: block, offset: UInt64(off), seed: 99) {
        ok = false
      }
      watch.resume()
    }
    let elapsed = watch.elapsed()
    // A hole reads as zeros; the size is 1 TiB; only the written blocks are held.
    let holeAt = offsets[1] - Int64(16 * block)
    if preadFully(rfd, buffer.pointer, block, holeAt) != block { ok = false }
    let zero = UnsafeRawBufferPointer(start: buffer.pointer, count: block).allSatisfy { $0 == 0 }
    var st = stat()
    fstat(rfd, &st)
    close(rfd)
    let blocksOK = Int64(st.st_blocks) * 512 <= Int64(100 * block * 4)
    c.record(
      g, "sparse-read", "sparse 1 TiB: read the 100 blocks back, cold", nanos: elapsed, ops: 100,
      bytes: 100 * block, verified: ok && zero && Int64(st.st_size) == size && blocksOK)
    if !blocksOK {
      c.results.notes.append(
        "\(c.target): the sparse file uses \(Int64(st.st_blocks) * 512) bytes of blocks")
    }
    unlink(path)
  }
}

/// rm -rf, untimed cleanup between runs.
func removeTree(_ path: String) {
  var st = stat()
  guard lstat(path, &st) == 0 else { return }
  if st.st_mode & S_IFMT != S_IFDIR {
    unlink(path)
    return
  }
  if let d = opendir(path) {
    var names: [String] = []
    while let e = readdir(d) {
      let name = withUnsafeBytes(of: e.pointee.d_name) { b in
        String(decoding: b.prefix { $0 != 0 }, as: UTF8.self)
      }
      if name != ".", name != ".." { names.append(name) }
    }
    closedir(d)
    for name in names { removeTree(path + "/" + name) }
  }
  rmdir(path)
}
