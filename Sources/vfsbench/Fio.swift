import Foundation

#if canImport(Glibc)
  import Glibc
#endif

/// fio 4 KiB random I/O on one file: randread and randwrite, psync, 1 and 2
/// jobs, buffered and O_DIRECT, each for --fio-seconds. The figure is IOPS
/// (the ratio is tmpfs IOPS / vfs IOPS, i.e. a time ratio like the others).
///
/// Timed runs do not verify (a checksum per block would add CPU time to both
/// sides and shrink the ratio); untimed passes after them do: the file is
/// laid out with fio's crc32c block headers and a short randread pass checks
/// every block it reads, and a randwrite pass with do_verify writes and reads
/// back a region.
enum Fio {
  static let binary: String? = {
    let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
    for dir in path.split(separator: ":") where access("\(dir)/fio", X_OK) == 0 {
      return "\(dir)/fio"
    }
    return nil
  }()

  struct Variant {
    let write: Bool
    let jobs: Int
    let direct: Bool
    /// "ro-" for the read-only phase (a file another file system wrote).
    var prefix = ""
    var key: String {
      "\(prefix)fio-\(write ? "randwrite" : "randread")-\(jobs)j\(direct ? "-direct" : "")"
    }
    var title: String {
      "\(prefix.isEmpty ? "" : "ro ")fio 4 KiB \(direct ? "O_DIRECT " : "")random \(write ? "write" : "read"), \(jobs) job\(jobs > 1 ? "s" : "")"
    }
    func target(writeback: Bool) -> Double? {
      guard jobs == 1 else { return nil }
      if direct { return 10 }
      return write ? (writeback ? 2 : 10) : 2
    }
  }

  static func variants(quick: Bool) -> [Variant] {
    var out: [Variant] = []
    for write in [false, true] {
      for direct in [false, true] {
        for jobs in quick ? [1] : [1, 2] {
          out.append(Variant(write: write, jobs: jobs, direct: direct))
        }
      }
    }
    return out
  }

  static func run(_ c: Context) throws {
    try run(c, file: c.root + "/fio.dat", readOnly: false)
  }

  /// `readOnly`: random reads only, of `file` as another file system laid
  /// it out (with verify headers); nothing is written or removed.
  static func run(_ c: Context, file: String, readOnly: Bool) throws {
    let group = readOnly ? "ro-fio" : "fio"
    var all = variants(quick: c.sizes.quick)
    if readOnly {
      all = all.filter { !$0.write }.map {
        Variant(write: false, jobs: $0.jobs, direct: $0.direct, prefix: "ro-")
      }
    }
    guard let fio = binary else {
      for v in all {
        c.skip(group, v.key, v.title, why: "fio not installed")
      }
      return
    }
    let size = "\(c.sizes.fioMiB)M"
    let common = [
      "--filename=\(file)", "--size=\(size)", "--bs=4k", "--ioengine=psync", "--output-format=json",
    ]
    if !readOnly {
      unlink(file)
      _ = try layout(fio, file: file, mib: c.sizes.fioMiB)
    }
    var laidOutForVerify = true
    for v in all {
      if v.write { laidOutForVerify = false }
      var args =
        common + [
          "--name=bench", "--rw=\(v.write ? "randwrite" : "randread")", "--numjobs=\(v.jobs)",
          "--time_based", "--runtime=\(c.sizes.fioSeconds)", "--group_reporting", "--norandommap",
          "--randrepeat=1",
        ]
      if v.direct { args.append("--direct=1") }
      if readOnly { args.append("--readonly") }
      c.begin()
      let report = try invoke(fio, args, timeout: Double(c.sizes.fioSeconds) + 300)
      let requests = c.probe?.end()
      guard let iops = report.iops(write: v.write), iops > 0 else {
        if v.direct, report.errorCode == EINVAL {
          c.skip(
            group, v.key, v.title, why: "O_DIRECT not supported",
            target: v.target(writeback: c.sizes.writebackCache))
          continue
        }
        throw BenchFailure("fio \(v.title) on \(c.target): \(report.summary)")
      }
      var verified: Bool?
      if !v.write, laidOutForVerify {
        // Untimed: read random blocks and check their crc32c headers.
        var check =
          common + [
            "--name=verify", "--rw=randread", "--verify=crc32c", "--time_based", "--runtime=1",
          ]
        if v.direct { check.append("--direct=1") }
        if readOnly { check.append("--readonly") }
        verified = try invoke(fio, check, timeout: 300).errorCode == 0
      }
      c.record(
        group, v.key, v.title, nanos: 1e9 / iops, ops: 1,
        target: v.target(writeback: c.sizes.writebackCache), verified: verified, iops: true,
        requestOps: report.ios(write: v.write), requests: requests)
    }
    if readOnly { return }
    // Untimed: random writes of a region, then fio reads them back and checks.
    for direct in [false, true] {
      var args =
        common + [
          "--name=wverify", "--rw=randwrite", "--verify=crc32c", "--do_verify=1",
          "--size=\(min(c.sizes.fioMiB, 16))M",
        ]
      if direct { args.append("--direct=1") }
      let ok = try invoke(fio, args, timeout: 600).errorCode == 0
      let key = Variant(write: true, jobs: 1, direct: direct).key
      c.results.setVerified(c.target, key: key, ok)
    }
    unlink(file)
  }

  /// Writes the file sequentially with crc32c verify headers (untimed).
  static func layout(_ fio: String, file: String, mib: Int) throws -> Report {
    try invoke(
      fio,
      [
        "--filename=\(file)", "--size=\(mib)M", "--ioengine=psync", "--output-format=json",
        "--name=layout", "--rw=write", "--verify=crc32c", "--verify_interval=4096",
        "--do_verify=0", "--bs=1M",
      ],
      timeout: 600)
  }

  struct Report {
    let json: [String: Any]?
    let status: Int32
    let stderr: String

    var job: [String: Any]? { (json?["jobs"] as? [[String: Any]])?.first }
    var errorCode: Int32 {
      if let e = job?["error"] as? Int, e != 0 { return Int32(e) }
      return status == 0 ? 0 : -1
    }
    /// The I/Os done (the denominator of requests per I/O).
    func ios(write: Bool) -> Int? {
      (job?[write ? "write" : "read"] as? [String: Any])?["total_ios"] as? Int
    }
    func iops(write: Bool) -> Double? {
      (job?[write ? "write" : "read"] as? [String: Any])?["iops"] as? Double
    }
    var summary: String {
      "status \(status), error \(errorCode): \(stderr.split(separator: "\n").prefix(3).joined(separator: " | "))"
    }
  }

  /// Runs fio with its JSON on a file (no pipe to fill up); kills it after
  /// `timeout` seconds (a hung mount must not hang the benchmark).
  static func invoke(_ fio: String, _ args: [String], timeout: Double) throws -> Report {
    let outPath = "/tmp/vfsbench-fio-\(getpid()).json"
    let errPath = "/tmp/vfsbench-fio-\(getpid()).err"
    _ = creat(outPath, 0o600)
    _ = creat(errPath, 0o600)
    defer {
      unlink(outPath)
      unlink(errPath)
    }
    let p = Process()
    p.executableURL = URL(fileURLWithPath: fio)
    p.arguments = args
    p.standardOutput = FileHandle(forWritingAtPath: outPath)
    p.standardError = FileHandle(forWritingAtPath: errPath)
    p.standardInput = FileHandle.nullDevice
    try p.run()
    Emergency.toolPid = p.processIdentifier
    defer { Emergency.toolPid = 0 }
    let deadline = nowNanos() + UInt64(timeout * 1e9)
    while p.isRunning, nowNanos() < deadline { usleep(20_000) }
    if p.isRunning {
      kill(p.processIdentifier, SIGKILL)
      p.waitUntilExit()
      throw BenchFailure("fio did not finish in \(Int(timeout)) s (mount hung?)")
    }
    p.waitUntilExit()
    let text = readFile(outPath, limit: 64 << 20) ?? ""
    var json: [String: Any]?
    if let brace = text.firstIndex(of: "{") {
      json =
        try? JSONSerialization.jsonObject(with: Data(text[brace...].utf8)) as? [String: Any]
    }
    return Report(json: json, status: p.terminationStatus, stderr: readFile(errPath) ?? "")
  }
}
