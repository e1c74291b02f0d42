#if canImport(Glibc)
  import Glibc
#endif

/// Workloads that only read a tree another file system wrote: the ext2
/// suite seeds an image with the kernel's ext2 (`seed`), and every target
/// mounts a copy of it read-only. So a read-only target (vfsmount's ext2
/// today) is measured too. Rows are keyed "ro-..." and titled "ro ...".
enum ReadOnlyWorkloads {
  nonisolated(unsafe) static let all: [Workload] = [
    Workload(
      name: "ro-metadata", summary: "stat N files cold and warm, list x20 (read-only)",
      repetitions: { $0.reps }, run: metadata),
    Workload(
      name: "ro-smallfiles", summary: "read 1,000 files of 4 KiB cold (read-only)",
      repetitions: { $0.reps }, run: smallFiles),
    Workload(
      name: "ro-seq", summary: "sequential read cold, warm and O_DIRECT (read-only)",
      repetitions: { max(1, min($0.reps, 3)) }, run: sequential),
    Workload(
      name: "ro-fio", summary: "fio 4 KiB randread, psync and O_DIRECT (read-only)",
      repetitions: { _ in 1 },
      run: { c in try Fio.run(c, file: c.root + "/ro/fio.dat", readOnly: true) }),
  ]

  static let seqSeed: UInt64 = 0x5EED

  /// Writes the tree under `root/ro` (on the reference's writable mount):
  /// N empty files, the small files, the sequential file, fio's file.
  static func seed(_ root: String, _ sizes: Sizes) throws {
    try Workloads.freshDir(root + "/ro")
    try Workloads.freshDir(root + "/ro/meta")
    let names = NameTable(count: max(sizes.files, sizes.smallFiles))
    var dfd = try Workloads.openDir(root + "/ro/meta")
    for i in 0..<sizes.files {
      let fd = openat(dfd, names[i], O_CREAT | O_WRONLY | O_CLOEXEC, 0o644)
      try Workloads.check(fd >= 0, "seed: create")
      close(fd)
    }
    close(dfd)
    try Workloads.freshDir(root + "/ro/small")
    dfd = try Workloads.openDir(root + "/ro/small")
    defer { close(dfd) }
    let size = sizes.smallFileSize
    let buffer = AlignedBuffer(count: max(size, 1 << 20))
    for i in 0..<sizes.smallFiles {
      Pattern.fill(buffer.pointer, count: size, offset: 0, seed: UInt64(i) &+ 77)
      let fd = openat(dfd, names[i], O_CREAT | O_WRONLY | O_TRUNC | O_CLOEXEC, 0o644)
      try Workloads.check(fd >= 0, "seed: create")
      let n = write(fd, buffer.pointer, size)
      close(fd)
      try Workloads.check(n == size, "seed: write")
    }
    let chunk = 1 << 20
    let fd = open(root + "/ro/seq.dat", O_CREAT | O_WRONLY | O_TRUNC | O_CLOEXEC, 0o644)
    try Workloads.check(fd >= 0, "seed: create seq.dat")
    defer { close(fd) }
    for i in 0..<sizes.seqMiB {
      Pattern.fill(buffer.pointer, count: chunk, offset: UInt64(i * chunk), seed: seqSeed)
      try Workloads.check(
        pwriteFully(fd, buffer.pointer, chunk, Int64(i * chunk)) == chunk, "seed: write")
    }
    try Workloads.check(fsync(fd) == 0, "seed: fsync")
    if let fio = Fio.binary {
      let r = try Fio.layout(fio, file: root + "/ro/fio.dat", mib: sizes.fioMiB)
      guard r.errorCode == 0 else { throw BenchFailure("seed: fio layout: \(r.summary)") }
    }
  }

  static func label(_ n: Int) -> String { n >= 1000 ? "\(n / 1000)k" : "\(n)" }

  /// stat every file after drop_caches, then warm; list the directory x20.
  static func metadata(_ c: Context) throws {
    let n = c.sizes.files
    let names = NameTable(count: n)
    let dir = c.root + "/ro/meta"
    let dfd = try Workloads.openDir(dir)
    defer { close(dfd) }
    let k = label(n)
    let g = "ro-metadata"
    func statAll() throws -> Bool {
      var st = stat()
      var ok = true
      for i in 0..<n {
        try Workloads.check(fstatat(dfd, names[i], &st, 0) == 0, "stat")
        if st.st_mode & S_IFMT != S_IFREG || st.st_size != 0 { ok = false }
      }
      return ok
    }
    try dropCaches()
    var t0 = c.start()
    var ok = try statAll()
    c.record(
      g, "ro-stat-cold", "ro stat \(k), after drop_caches", nanos: nowNanos() - t0, ops: n,
      verified: ok)
    t0 = c.start()
    ok = try statAll()
    c.record(g, "ro-stat-warm", "ro stat \(k), warm", nanos: nowNanos() - t0, ops: n, verified: ok)
    t0 = c.start()
    ok = true
    for _ in 0..<20 where try Workloads.countEntries(dir) != n { ok = false }
    c.record(
      g, "ro-list", "ro list a \(k) dir (x20)", nanos: nowNanos() - t0, ops: 20 * n, verified: ok)
  }

  /// Reads every small file after drop_caches and checks its bytes.
  static func smallFiles(_ c: Context) throws {
    let n = c.sizes.smallFiles
    let size = c.sizes.smallFileSize
    let names = NameTable(count: n)
    let dfd = try Workloads.openDir(c.root + "/ro/small")
    defer { close(dfd) }
    let input = AlignedBuffer(count: n * size + size)
    let (elapsed, ok) = try Workloads.readSmallFiles(
      c, dfd, names, count: n, size: size, into: input)
    c.record(
      "ro-smallfiles", "ro-small-read", "ro read \(n) files of \(size / 1024) KiB, cold",
      nanos: elapsed, ops: n, bytes: n * size, verified: ok)
  }

  /// Reads the sequential file cold, warm and with O_DIRECT, checking it.
  static func sequential(_ c: Context) throws {
    let chunk = 1 << 20
    let total = c.sizes.seqMiB * chunk
    let path = c.root + "/ro/seq.dat"
    let buffer = AlignedBuffer(count: chunk)
    let g = "ro-seq"
    let label = "\(c.sizes.seqMiB) MiB"

    func readBack(flags: Int32) throws -> (UInt64, Bool)? {
      try Workloads.readSequential(
        c, path: path, total: total, chunk: chunk, buffer: buffer, seed: seqSeed, flags: flags)
    }

    try dropCaches()
    for (key, title, flags) in [
      ("ro-seq-read-cold", "ro sequential read \(label), cold", Int32(0)),
      ("ro-seq-read-warm", "ro sequential read \(label), warm", Int32(0)),
      ("ro-seq-read-direct", "ro sequential read \(label), O_DIRECT", oDirect),
    ] {
      if let (ns, ok) = try readBack(flags: flags) {
        c.record(
          g, key, title, nanos: ns, ops: total / chunk, bytes: total, verified: ok)
      } else {
        c.skip(g, key, title, why: "O_DIRECT not supported (EINVAL)")
      }
    }
  }
}
