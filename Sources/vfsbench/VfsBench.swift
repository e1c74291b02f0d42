import ArgumentParser
import Foundation

#if canImport(Glibc)
  import Glibc
#endif

/// `vfsbench`: the same workloads on several file systems side by side (a
/// suite of targets: vfsmount vs tmpfs by default), with the ratio to the
/// reference and the issue's targets; `vfsbench micro`: the VFS core alone,
/// in this process.
@main
struct VfsBench: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "vfsbench",
    abstract: "Benchmark SwiftVFS through FUSE against a kernel tmpfs.",
    discussion: """
      Mounts the targets of a suite on temporary directories, runs each
      workload on each (alternating, several repetitions), prints a table of
      median times, rates and ratios to the reference target, the FUSE
      requests per operation of each vfsmount target (/proc/vfs/requests),
      and writes JSON and an SVG chart. Every workload checks what it reads
      back; a wrong byte is reported as WRONG DATA and makes the exit status
      1. Needs root (mounts, drop_caches) and fio for the fio rows. All mounts
      are taken down at the end, on failure, and on Ctrl-C.

      Suites (--suite):
        memfs    vfsmount (memfs) vs tmpfs (the reference); issue 5's targets
        engines  vfsmount once per engine it offers (-o engine=...) vs tmpfs;
                 issue 11's targets
        ext2     vfsmount -t ext2 and fuse2fs vs the kernel's ext2 on a loop
                 device (the reference), each on a sparse image (--image-mib)
                 on its own tmpfs; a write phase on fresh images, then a
                 read-only phase on copies of an image the kernel filled.
                 A target that cannot mount read-write gets n/a (read-only).

      vfsmount is found next to vfsbench, or --vfsmount PATH.

      Workloads (--only): \((Workload.all + ReadOnlyWorkloads.all).map(\.name).joined(separator: ", ")).
      """,
    subcommands: [Run.self, MicroCommand.self],
    defaultSubcommand: Run.self)
}

struct Run: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "run", abstract: "The workloads on a suite's targets (the default).")

  @Flag(help: "Tiny sizes (well under a minute): proves the benchmark works, nothing more.")
  var quick = false

  @Option(help: "Repetitions per workload (median taken). Default 5, quick 2.")
  var reps: Int?

  @Option(help: "Write the results as JSON here.")
  var json: String = "vfsbench.json"

  @Option(help: "Draw the chart (SVG) here.")
  var svg: String = "vfsbench.svg"

  @Option(
    name: .customLong("only"), parsing: .singleValue,
    help: "Run only these workloads (repeatable, or comma-separated).")
  var only: [String] = []

  @Option(
    help: "vfsmount -o options, e.g. \"entry_timeout=0,attr_timeout=0\" or \"writeback_cache\".")
  var vfsOptions: String = ""

  @Option(help: "The vfsmount binary (default: next to vfsbench).")
  var vfsmount: String?

  @Option(help: "Seconds per fio job (default 20; quick 1).")
  var fioSeconds: Int?

  @Option(
    help:
      "Largest directory for the scale workload (10k, 100k, 1M up to this; default 1M, ext2 suite 10k)."
  )
  var scale: Int?

  @Option(help: "Files for the metadata workload (default 10,000).")
  var files: Int?

  @Option(help: "MiB for the sequential workload (default 512).")
  var seqMib: Int?

  @Option(help: "MiB of the fio file (default 256).")
  var fioMib: Int?

  @Option(
    name: .customLong("suite"),
    help:
      "What to compare: memfs (vfsmount vs tmpfs, the default), engines (each vfsmount engine vs tmpfs), ext2 (vfsmount and fuse2fs vs the kernel's ext2)."
  )
  var suiteName: String = "memfs"

  @Option(help: "Size of each ext2 image in MiB (sparse; the ext2 suite; default 4096).")
  var imageMib: Int = 4096

  @Option(help: "Directory for the temporary mount points.")
  var workdir: String = "/tmp"

  @Flag(help: "Also run the micro benchmarks and put them in the JSON.")
  var micro = false

  mutating func validate() throws {
    let names = Set((Workload.all + ReadOnlyWorkloads.all).map(\.name))
    for name in selected where !names.contains(name) {
      throw ValidationError(
        "unknown workload '\(name)'; known: \(names.sorted().joined(separator: ", "))")
    }
    if let reps, reps < 1 { throw ValidationError("--reps must be at least 1") }
    guard Suite.names.contains(suiteName) else {
      throw ValidationError(
        "unknown suite '\(suiteName)'; known: \(Suite.names.joined(separator: ", "))")
    }
    guard imageMib >= 16 else { throw ValidationError("--image-mib must be at least 16") }
  }

  var selected: [String] {
    only.flatMap {
      $0.split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) }
    }
  }

  var sizes: Sizes {
    var s = quick ? Sizes.quick : Sizes()
    if let reps { s.reps = reps }
    if let fioSeconds { s.fioSeconds = fioSeconds }
    if let scale { s.scaleCap = scale }
    if let files { s.files = files }
    if let seqMib { s.seqMiB = seqMib }
    if let fioMib { s.fioMiB = fioMib }
    s.writebackCache = vfsOptions.split(separator: ",").contains("writeback_cache")
    return s
  }

  /// The suite this run measures.
  func suite(vfsmount binary: String) -> Suite {
    switch suiteName {
    case "engines":
      return Suite.engines(vfsOptions: vfsOptions, vfsmountHelp: helpText(of: binary))
    case "ext2": return Suite.ext2(vfsOptions: vfsOptions)
    default: return Suite.memfs(vfsOptions: vfsOptions)
    }
  }

  func run() throws {
    guard geteuid() == 0 else {
      throw BenchFailure("vfsbench needs root (mounts, /proc/sys/vm/drop_caches, /dev/fuse)")
    }
    var sizes = self.sizes
    // ext2 without dir_index scans directories linearly (the kernel's ext2
    // has no htree), and a 4 GiB image has 262,144 inodes: 10k by default.
    if suiteName == "ext2", scale == nil { sizes.scaleCap = min(sizes.scaleCap, 10_000) }
    let binary = vfsmount ?? VfsBench.siblingBinary("vfsmount")
    let suite = self.suite(vfsmount: binary)
    let machineBefore = Machine.describe()

    Emergency.installHandlers()
    var template = Array("\(workdir)/vfsbench.XXXXXX".utf8CString)
    guard let made = mkdtemp(&template) else {
      throw BenchFailure("mkdtemp in \(workdir): \(errnoText())")
    }
    let base = String(cString: made)
    Emergency.baseDir = strdup(base)
    defer { rmdir(base) }
    let results = Results()
    results.notes += suite.notes
    var ran: [String] = []
    for phase in suite.phases {
      let workloads = phase.workloads.filter { selected.isEmpty || selected.contains($0.name) }
      if workloads.isEmpty { continue }
      ran += workloads.map(\.name)
      try runPhase(
        phase, workloads: workloads, suite: suite, base: base, binary: binary, sizes: sizes,
        results: results)
    }

    if ran.isEmpty {
      let known = suite.phases.flatMap(\.workloads).map(\.name).joined(separator: ", ")
      throw BenchFailure("none of --only is in the \(suite.name) suite (its workloads: \(known))")
    }
    var microResults: ([Micro.Result], [(String, Double)])?
    if micro { microResults = try Micro.run(quick: quick) }
    let machine = Machine.describe(before: machineBefore)
    var settings: [String: Any] = [
      "vfs_options": vfsOptions, "quick": quick, "reps": sizes.reps, "files": sizes.files,
      "tree": "depth \(sizes.treeDepth), fan-out \(sizes.treeFanout)",
      "small_files": sizes.smallFiles, "seq_mib": sizes.seqMiB, "fio_mib": sizes.fioMiB,
      "fio_seconds": sizes.fioSeconds, "scale_cap": sizes.scaleCap,
      "workloads": ran, "vfsmount": binary, "suite": suite.name,
      "reference": suite.reference, "targets": suite.columns,
    ]
    if suite.name == "ext2" { settings["image_mib"] = imageMib }

    let options = vfsOptions.isEmpty ? "(defaults)" : vfsOptions
    print("")
    print("\(suite.title) — vfsmount -o \(options); \(machine["summary"] as? String ?? "")")
    Report.printTable(results, suite: suite)
    Report.printRequests(results, suite: suite)
    Report.printMemory(results)
    if let (r, m) = microResults {
      print("")
      Micro.printTable(r, m)
    }
    for n in results.notes { print("note: \(n)") }
    for f in results.failures { print("FAILED: \(f)") }

    let data = Report.json(
      results, suite: suite, machine: machine, settings: settings, micro: microResults?.0,
      microMemory: microResults?.1)
    try Report.write(data, to: json)
    let subtitle =
      "\(suite.name) suite; vfsmount -o \(vfsOptions.isEmpty ? "defaults" : vfsOptions); \(machine["summary"] as? String ?? ""); median of \(sizes.reps) reps"
    try Report.write(Data(Report.svg(results, suite: suite, subtitle: subtitle).utf8), to: svg)
    print("\nwrote \(json) and \(svg)")
    if !results.failures.isEmpty || results.rows.contains(where: \.wrongData) {
      throw ExitCode(1)
    }
  }

  /// Mounts a phase's targets (on copies of a seeded image if the phase has
  /// a seed), runs its workloads on each in turn, repetition by repetition,
  /// and unmounts them.
  func runPhase(
    _ phase: Phase, workloads: [Workload], suite: Suite, base: String, binary: String,
    sizes: Sizes, results: Results
  ) throws {
    let imageBytes = Int64(imageMib) << 20
    var mounts: [BenchMount] = []
    defer { for m in mounts.reversed() { m.unmount() } }
    var seedImage: String?
    var seedDir: String?
    defer {
      if let seedDir {
        if umount2(seedDir, 0) != 0 { umount2(seedDir, Int32(MNT_DETACH)) }
        rmdir(seedDir)
      }
    }
    if let seed = phase.seed {
      // The reference (the kernel's ext2) writes the tree on a fresh image.
      guard let ref = phase.targets.first(where: \.isReference) else {
        throw BenchFailure("phase \(phase.name): a seeded phase needs a reference target")
      }
      var writer = ref
      writer.readOnly = false
      let dir = base + "/seed"
      seedDir = dir
      try BenchMount.mountTmpfs(at: dir, source: "vfsbench-seed")
      let m = try BenchMount.mount(writer, base: dir, vfsmount: binary, imageBytes: imageBytes)
      log("vfsbench: seeding an image with \(ref.name) for the \(phase.name) phase")
      do {
        try seed(m.path, sizes)
      } catch {
        m.unmount()
        throw error
      }
      // Unmount first (everything written back to the image), then keep a
      // copy of the image before its tmpfs goes.
      m.unmount(keepImage: true)
      let file = dir + "/seed.img"
      defer { m.unmount() }
      try runTool(["cp", "--sparse=always", m.image ?? "", file])
      seedImage = file
    }
    var readOnly: [String: String] = [:]
    for t in phase.targets {
      do {
        let m = try BenchMount.mount(
          t, base: base, vfsmount: binary, imageBytes: imageBytes, seedImage: seedImage)
        mounts.append(m)
      } catch  where t.mayBeReadOnly {
        readOnly[t.name] = "\(error)"
        results.notes.append(
          "\(t.name) could not mount read-write, so the \(phase.name) rows read n/a (read-only) for it: \(error)"
        )
        log("vfsbench: \(t.name) is read-only: \(error)")
      }
    }
    // Which transport each vfsmount column really ran on (the uring column
    // falls back to read/write if the kernel refuses the ring).
    for m in mounts where m.target.isVfsmount {
      let text = (try? String(contentsOfFile: m.path + "/proc/vfs/connection", encoding: .utf8))
      if let line = text?.split(separator: "\n").first(where: { $0.hasPrefix("transport ") }) {
        let note = "\(m.name): \(line)"
        if !results.notes.contains(note) { results.notes.append(note) }
      }
    }
    let primary = mounts.first { $0.target.isVfsmount && $0.pid != nil }
    let prefix = suite.phases.count > 1 ? "\(phase.name) phase: " : ""
    if let pid = primary?.pid, let rss = procStatusBytes(pid, "VmRSS") {
      results.addMemory("\(prefix)daemon RSS after mount (\(primary?.name ?? ""))", Double(rss))
    }
    log(
      "vfsbench: \(suite.name) \(phase.name): "
        + mounts.map { "\($0.name) at \($0.path)\($0.pid.map { " (pid \($0))" } ?? "")" }
        .joined(separator: ", "))
    let keysBefore = results.keys

    for w in workloads {
      let reps = w.repetitions(sizes)
      let pid = primary?.pid
      let peakReset = pid.map { resetPeakRSS($0) } ?? false
      let rssStart = pid.flatMap { procStatusBytes($0, "VmRSS") } ?? 0
      let started = nowNanos()
      do {
        for rep in 0..<reps {
          for m in mounts {
            log("  \(w.name): repetition \(rep + 1)/\(reps) on \(m.name)")
            try w.run(
              Context(
                target: m.name, root: m.path, rep: rep,
                daemonPid: m.target.isVfsmount ? m.pid : nil, probe: m.probe, sizes: sizes,
                results: results))
            guard m.alive else { throw BenchFailure("the \(m.name) daemon died") }
          }
        }
      } catch {
        results.failures.append("\(w.name): \(error)")
        log("vfsbench: \(w.name) failed: \(error)")
        for m in mounts where !m.target.readOnly {
          for name in ["meta", "tree", "small", "seq.dat", "fio.dat", "scale", "sparse.dat"] {
            removeTree(m.path + "/" + name)
          }
        }
        if let dead = mounts.first(where: { !$0.alive }) {
          results.failures.append(
            "\(dead.name) died; the end of its log: \(dead.lastLogLines(5))")
          break
        }
      }
      if peakReset, let pid, let hwm = procStatusBytes(pid, "VmHWM") {
        var note = "RSS at start \(formatBytes(Double(rssStart)))"
        if w.name == "seq", case .vfsmount = primary?.target.mounter {
          let data = Double(sizes.seqMiB) * 1_048_576
          let allowed = data * 1.1 + 32 * 1_048_576
          note +=
            "; holding \(sizes.seqMiB) MiB of data; target <= data + 10% + 32 MiB = \(formatBytes(allowed)): \(Double(hwm) <= allowed ? "meets" : "MISSES")"
        }
        results.addMemory(
          "\(prefix)peak RSS (VmHWM) during \(w.name)\(suite.name == "memfs" ? "" : " (\(primary?.name ?? ""))")",
          Double(hwm), note: note)
      }
      log("  \(w.name): \(((Double(nowNanos() - started)) / 1e9).short) s")
    }
    let newKeys = results.keys.subtracting(keysBefore)
    for (name, why) in readOnly {
      results.skipAll(name, keys: newKeys, why: "read-only: \(why)")
    }
    // Unmount before reporting (the defer does it again harmlessly).
    for m in mounts.reversed() { m.unmount() }
    mounts.removeAll()
  }
}

struct MicroCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "micro", abstract: "Micro benchmarks of the VFS core, in-process, without FUSE.")

  @Flag(help: "Small counts (a few seconds).")
  var quick = false

  @Option(help: "Write the results as JSON here.")
  var json: String?

  func run() throws {
    let (results, memory) = try Micro.run(quick: quick)
    Micro.printTable(results, memory)
    if let json {
      let data = Report.json(
        Results(), machine: Machine.describe(), settings: ["quick": quick], micro: results,
        microMemory: memory)
      try Report.write(data, to: json)
    }
  }
}

extension VfsBench {
  /// A binary in the same directory as this one.
  static func siblingBinary(_ name: String) -> String {
    var buf = [CChar](repeating: 0, count: 4096)
    let n = readlink("/proc/self/exe", &buf, buf.count - 1)
    guard n > 0 else { return name }
    let exe = String(decoding: buf[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    return (exe as NSString).deletingLastPathComponent + "/" + name
  }
}

func log(_ s: String) {
  let line = s + "\n"
  line.withCString { _ = write(2, $0, strlen($0)) }
}

/// What the machine was: kernel, CPU, cores, memory, load (the machine is
/// shared, so the load average before and after goes into the report).
enum Machine {
  static func describe(before: [String: Any]? = nil) -> [String: Any] {
    var u = utsname()
    uname(&u)
    let kernel = withUnsafeBytes(of: u.release) {
      String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self)
    }
    let cpu =
      readFile("/proc/cpuinfo")?.split(separator: "\n").first { $0.hasPrefix("model name") }
      .map {
        String($0.split(separator: ":", maxSplits: 1).last ?? "").trimmingCharacters(
          in: .whitespaces)
      }
      ?? "?"
    let cores = sysconf(Int32(_SC_NPROCESSORS_ONLN))
    let ram = Double(sysconf(Int32(_SC_PHYS_PAGES))) * Double(sysconf(Int32(_SC_PAGESIZE)))
    let load =
      readFile("/proc/loadavg")?.split(separator: " ").prefix(3).joined(separator: " ") ?? "?"
    var d: [String: Any] = [
      "kernel": kernel, "cpu": cpu, "cores": cores, "ram_bytes": ram, "loadavg": load,
      "date_utc": ISO8601DateFormatter().string(from: Date()),
    ]
    if let before { d["loadavg_at_start"] = before["loadavg"] }
    d["summary"] =
      "Linux \(kernel), \(cpu), \(cores) cores, \(formatBytes(ram)) RAM, load \(before?["loadavg"] as? String ?? load) -> \(load)"
    return d
  }
}
