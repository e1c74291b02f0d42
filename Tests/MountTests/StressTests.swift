import Foundation
import XCTest

#if canImport(Glibc)
  import Glibc
#endif

/// Bounded stress on a real mount (default options plus allow_other): stress-ng's
/// file-system stressors, dbench, fs_mark, a multi-process test of our own and
/// readdir while the directory changes. Each test ends with the checker
/// (MOUNT/proc/vfs/check must read exactly "ok\n") and a stat the daemon still serves.
final class StressTests: MountTestCase {
  override class var usesTmpfs: Bool { false }

  /// The checker's verdict, read at once after the tools exit (the kernel may still
  /// be sending RELEASE and FORGET: the checker must be right meanwhile too), and a
  /// stat the daemon still serves.
  func assertHealthy(file: StaticString = #filePath, line: UInt = #line) {
    let verdict = try? String(contentsOfFile: vfs.path + "/proc/vfs/check", encoding: .utf8)
    XCTAssertEqual(verdict, "ok\n", "proc/vfs/check", file: file, line: line)
    var st = stat()
    XCTAssertEqual(stat(vfs.path, &st), 0, "stat of the mount root", file: file, line: line)
    XCTAssertEqual(stat(vfs.path + "/proc/vfs", &st), 0, "stat of proc/vfs", file: file, line: line)
    XCTAssertTrue(vfs.isMounted, "still mounted", file: file, line: line)
  }

  /// A tool the test needs; a missing one fails under CI (scripts/install-deps installs it).
  func tool(_ name: String) throws -> String {
    if let path = which(name) { return path }
    if Self.isCI { XCTFail("\(name) is not installed (scripts/install-deps)") }
    throw XCTSkip("\(name) is not installed")
  }

  // MARK: - stress-ng

  /// The file-system stressors, each one instance for a few seconds, all at once.
  static let stressors: [(name: String, extra: [String])] = [
    ("dentry", []), ("dir", []), ("dirdeep", []), ("dirmany", []), ("filename", []),
    ("flock", []), ("lockf", []), ("fcntl", []), ("fstat", []), ("hdd", ["--hdd-bytes", "2M"]),
    ("link", []), ("symlink", []), ("mknod", []), ("rename", []), ("seek", ["--seek-size", "2M"]),
    ("sync-file", ["--sync-file-bytes", "2M"]), ("utime", []), ("xattr", []),
    ("file-ioctl", []), ("chmod", []), ("chown", []), ("fallocate", ["--fallocate-bytes", "2M"]),
    ("getdent", []), ("io", []), ("readahead", ["--readahead-bytes", "2M"]), ("open", []),
    ("copy-file", ["--copy-file-bytes", "128M"]), ("access", []), ("touch", []),
  ]

  /// One stress-ng run of `stressors` in `dir`, all at once, checked for a
  /// clean exit and no failure: the bogo ops of each that reported them.
  private func runStressNG(
    _ stressNG: String, _ stressors: [(name: String, extra: [String])], in dir: String
  ) -> (bogo: [String: Int], output: String) {
    var args = ["--temp-path", dir, "--timeout", "4", "--metrics-brief", "--verify"]
    for s in stressors { args += ["--\(s.name)", "1"] + s.extra }
    let r = MountTests.run(stressNG, args, timeout: 150)
    let output = r.stdout + r.stderr
    XCTAssertFalse(r.timedOut, "stress-ng did not finish: \(output.suffix(3000))")
    XCTAssertEqual(r.status, 0, "stress-ng exit status: \(output.suffix(4000))")
    let failures = output.split(separator: "\n").filter {
      $0.lowercased().contains("fail") || $0.contains("error")
    }
    XCTAssertEqual(failures, [], "stress-ng reported failures")
    var bogo: [String: Int] = [:]
    for line in output.split(separator: "\n") where line.contains("metrc:") {
      let f = line.split(separator: " ", omittingEmptySubsequences: true)
      // "stress-ng: metrc: [pid] name bogo-ops real usr sys rate rate"
      if f.count >= 10, let ops = Int(f[4]) { bogo[String(f[3])] = ops }
    }
    return (bogo, output)
  }

  func testStressNG() throws {
    let stressNG = try tool("stress-ng")
    let dir = vfs.path + "/stress-ng"
    XCTAssertEqual(mkdir(dir, 0o777), 0)
    let started = Date()
    var (bogo, output) = runStressNG(stressNG, Self.stressors, in: dir)
    // Every stressor ran and reported its bogo ops. Once (a CI run on the
    // libfuse loop), 8 of the 29 printed no metrics line although stress-ng
    // exited 0 and reported no failure; those run again, alone, and must
    // report then.
    let unreported = Self.stressors.filter { bogo[$0.name] == nil }
    if !unreported.isEmpty {
      print(
        "stress-ng: no metrics line for \(unreported.map(\.name)); run again. Its output:\n"
          + output.split(separator: "\n").filter { !$0.contains("metrc:") }.joined(separator: "\n"))
      let again = runStressNG(stressNG, unreported, in: dir)
      bogo.merge(again.bogo) { first, _ in first }
      output += again.output
    }
    let missing = Self.stressors.map(\.name).filter { bogo[$0] == nil }
    XCTAssertEqual(missing, [], "stressors without a metrics line: \(output.suffix(3000))")
    let summary = Self.stressors.map { "\($0.name)=\(bogo[$0.name].map(String.init) ?? "?")" }
    print(
      "stress-ng bogo ops (\(Int(Date().timeIntervalSince(started))) s): "
        + summary.joined(separator: " "))
    assertHealthy()
    // What stress-ng made, it removed again.
    XCTAssertEqual((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? ["?"], [])
  }

  // MARK: - dbench and fs_mark

  func testDbench() throws {
    let dbench = try tool("dbench")
    // dbench 4.00 takes semget()'s answer 0 for a failure (`if (!(barrier =
    // semget(...)))`) and prints "failed to create barrier semaphore", yet 0 is
    // a valid id: the first set of an IPC namespace gets it, and so does the
    // set made when the machine-wide id sequence wraps round, which other
    // work on the machine makes happen now and then. So dbench runs in an IPC
    // namespace of its own where a placeholder set has taken id 0 first: its
    // own set then never gets 0, and a real semget failure (-1) still makes
    // dbench fail ("failed to initialize the barrier semaphore", exit 1).
    let placeholder = """
      import ctypes, os, sys
      assert ctypes.CDLL(None).semget(0, 1, 0o1600) == 0, "placeholder semaphore set is not id 0"
      os.execv(sys.argv[1], sys.argv[1:])
      """
    let r = MountTests.run(
      "/usr/bin/unshare",
      ["--ipc", "--", "python3", "-c", placeholder, dbench, "-D", vfs.path, "-t", "4", "2"],
      timeout: 90)
    let output = r.stdout + r.stderr
    XCTAssertEqual(r.status, 0, "dbench: \(output.suffix(3000))")
    let bad = output.split(separator: "\n").filter {
      let l = $0.lowercased()
      return l.contains("error") || l.contains("fail") || l.contains("expected")
    }
    XCTAssertEqual(bad, [], "dbench reported errors")
    let throughput = output.split(separator: "\n").last { $0.hasPrefix("Throughput") }
    XCTAssertNotNil(throughput, "no throughput line: \(output.suffix(2000))")
    if let throughput {
      let mbs = Double(throughput.split(separator: " ")[1]) ?? 0
      XCTAssertGreaterThan(mbs, 0, String(throughput))
      print("dbench: \(throughput)")
    }
    assertHealthy()
  }

  func testFsMark() throws {
    let fsMark = try tool("fs_mark")
    let dir = vfs.path + "/x"
    // fs_mark appends its log (fs_log.txt) to the current directory: give it its own.
    let cwd = try makeTempDir("fs_mark")
    defer { _ = sh("rm -rf \(shq(cwd))") }
    let r = MountTests.run(
      fsMark, ["-n", "200", "-s", "4096", "-L", "2", "-d", dir], cwd: cwd, timeout: 90)
    let output = r.stdout + r.stderr
    XCTAssertEqual(r.status, 0, "fs_mark: \(output.suffix(3000))")
    // The result table: "FSUse% Count Size Files/sec App Overhead", one row per loop.
    let rows = output.split(separator: "\n").filter {
      let f = $0.split(separator: " ", omittingEmptySubsequences: true)
      return f.count == 5 && f.allSatisfy { Double($0) != nil }
    }
    XCTAssertEqual(rows.count, 2, "two loops: \(output.suffix(2000))")
    for row in rows {
      let f = row.split(separator: " ", omittingEmptySubsequences: true)
      XCTAssertEqual(f[2], "4096", String(row))
      XCTAssertGreaterThan(Double(f[3]) ?? 0, 0, "files/sec: \(row)")
    }
    print("fs_mark: " + rows.joined(separator: " | "))
    // fs_mark keeps its files: 2 loops x 200 files of 4096 bytes.
    let names = (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []
    XCTAssertEqual(names.count, 400)
    if let name = names.first {
      let attrs = try? FileManager.default.attributesOfItem(atPath: dir + "/" + name)
      XCTAssertEqual((attrs?[.size] as? NSNumber)?.intValue, 4096)
    }
    assertHealthy()
  }

  // MARK: - Several processes in the same directories

  /// Each worker publishes immutable files whose content names itself
  /// (`<worker:seq:reps>` repeated `reps` times), written under a private name and
  /// then renamed into place; files and directories are renamed across A and B in
  /// both directions at once, inside one directory, linked, unlinked and read.
  /// Every read must see a whole content; afterwards every file is whole and each
  /// nlink equals the names found.
  static let workerScript = #"""
    import errno, os, random, sys, time
    root, wid, secs = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
    rnd = random.Random(wid)
    A, B = root + "/A", root + "/B"
    OK = {errno.ENOENT, errno.EEXIST, errno.ENOTEMPTY, errno.EINVAL}
    def valid(data):
        if not data.startswith(b"<") or b">" not in data:
            return False
        unit = data[: data.index(b">") + 1]
        try:
            reps = int(unit[1:-1].split(b":")[2])
        except Exception:
            return False
        return data == unit * reps
    counts = {"create": 0, "rename": 0, "cross": 0, "link": 0, "unlink": 0, "read": 0, "dir": 0}
    def attempt(name, fn, *args):
        try:
            fn(*args)
            counts[name] += 1
        except OSError as e:
            if e.errno not in OK:
                print("UNEXPECTED", name, args, e, flush=True)
                sys.exit(1)
    seq = 0
    end = time.time() + secs
    while time.time() < end:
        op = rnd.randrange(10)
        d = rnd.choice((A, B))
        k = rnd.randrange(12)
        if op <= 2:
            seq += 1
            reps = rnd.choice((1, 7, 300, 2000, 9000))
            data = ("<%d:%d:%d>" % (wid, seq, reps)).encode() * reps
            tmp = "%s/tmp-%d-%d" % (d, wid, seq)
            fd = os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.close(fd)
            attempt("create", os.rename, tmp, "%s/f%d" % (d, k))
        elif op == 3:
            # The crossing renames: workers move A/fk to B/fk and B/fk to A/fk at once.
            other = B if d == A else A
            attempt("cross", os.rename, "%s/f%d" % (d, k), "%s/f%d" % (other, k))
        elif op == 4:
            attempt("rename", os.rename, "%s/f%d" % (d, k), "%s/f%d" % (d, rnd.randrange(12)))
        elif op == 5:
            attempt("link", os.link, "%s/f%d" % (d, k), "%s/f%d" % (rnd.choice((A, B)), rnd.randrange(12)))
        elif op == 6:
            attempt("unlink", os.unlink, "%s/f%d" % (d, k))
        elif op == 7:
            # Directories with a file inside, crossing between A and B, and nested
            # crossings (A/dk into B/dj while B/dj moves into A/dk: one must fail).
            sub = "%s/d%d" % (d, k % 4)
            r = rnd.randrange(4)
            if r == 0:
                attempt("dir", os.mkdir, sub)
                try:
                    fd = os.open(sub + "/inner", os.O_CREAT | os.O_WRONLY, 0o644)
                    os.write(fd, b"<0:0:1>")
                    os.close(fd)
                except OSError as e:
                    if e.errno not in OK | {errno.ENOENT}:
                        print("UNEXPECTED inner", e, flush=True)
                        sys.exit(1)
            elif r == 1:
                other = B if d == A else A
                attempt("dir", os.rename, sub, "%s/d%d" % (other, k % 4))
            elif r == 2:
                other = B if d == A else A
                attempt("dir", os.rename, sub, "%s/d%d/d%d" % (other, rnd.randrange(4), rnd.randrange(4)))
            else:
                for name in ("inner",):
                    try:
                        os.unlink(sub + "/" + name)
                    except OSError:
                        pass
                attempt("dir", os.rmdir, sub)
        else:
            try:
                with open("%s/f%d" % (d, k), "rb") as f:
                    data = f.read()
                counts["read"] += 1
                if not valid(data):
                    print("TORN %s/f%d %d bytes %r" % (d, k, len(data), data[:40]), flush=True)
                    sys.exit(1)
            except OSError as e:
                if e.errno not in OK:
                    print("UNEXPECTED read", e, flush=True)
                    sys.exit(1)
    print("worker", wid, " ".join("%s=%d" % kv for kv in sorted(counts.items())), flush=True)
    """#

  static let verifyScript = #"""
    import os, stat, sys
    root = sys.argv[1]
    names, nlinks, bad, files = {}, {}, [], 0
    for dirpath, dirs, fnames in os.walk(root):
        for n in fnames:
            p = os.path.join(dirpath, n)
            st = os.lstat(p)
            files += 1
            names[st.st_ino] = names.get(st.st_ino, 0) + 1
            nlinks[st.st_ino] = st.st_nlink
            if n.startswith("tmp-"):
                bad.append("leftover private file " + p)
                continue
            data = open(p, "rb").read()
            unit = data[: data.index(b">") + 1] if b">" in data else b""
            try:
                reps = int(unit[1:-1].split(b":")[2])
            except Exception:
                reps = -1
            if reps < 1 or data != unit * reps:
                bad.append("torn %s: %d bytes %r" % (p, len(data), data[:40]))
    for ino, count in names.items():
        if nlinks[ino] != count:
            bad.append("inode %d: nlink %d, %d names" % (ino, nlinks[ino], count))
    print("files", files)
    for b in bad:
        print(b)
    sys.exit(1 if bad else 0)
    """#

  func testProcessesShareDirectories() throws {
    let python = try tool("python3")
    let scripts = try makeTempDir("stress-scripts")
    defer { _ = sh("rm -rf \(shq(scripts))") }
    try Self.workerScript.write(toFile: scripts + "/worker.py", atomically: true, encoding: .utf8)
    try Self.verifyScript.write(toFile: scripts + "/verify.py", atomically: true, encoding: .utf8)
    let root = vfs.path + "/mp"
    for d in [root, root + "/A", root + "/B"] { XCTAssertEqual(mkdir(d, 0o755), 0) }
    let workers = (0..<5).compactMap { i in
      try? Child(python, [scripts + "/worker.py", root, "\(i + 1)", "5"])
    }
    XCTAssertEqual(workers.count, 5)
    for (i, w) in workers.enumerated() {
      let status = w.wait(timeout: 90)
      if status == nil { w.signal(SIGKILL) }
      XCTAssertEqual(status, 0, "worker \(i + 1): \(w.stdout) \(w.stderr.suffix(2000))")
      print(w.stdout.trimmingCharacters(in: .whitespacesAndNewlines))
    }
    let v = MountTests.run(python, [scripts + "/verify.py", root], timeout: 60)
    XCTAssertEqual(v.status, 0, "after the workers: \(v.stdout.prefix(3000)) \(v.stderr)")
    print("verify: \(v.out.prefix(200))")
    assertHealthy()
    // And it all goes away.
    XCTAssertEqual(sh("rm -rf \(shq(root))").status, 0)
    assertHealthy()
  }

  // MARK: - readdir while the directory changes

  /// A reader lists a directory of 20,000 names with getdents64 and a 1 KiB buffer
  /// (many small pages, each resumed from the offset the last one ended at) while
  /// another process deletes and creates other names in it. Every name present the
  /// whole time appears exactly once in every pass.
  static let readdirScript = #"""
    import ctypes, os, struct, sys, time
    d, role, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    if role == "make":
        for i in range(n):
            os.mknod("%s/keep%06d" % (d, i), 0o100644)
        for i in range(n // 4):
            os.mknod("%s/churn%06d" % (d, i), 0o100644)
        sys.exit(0)
    if role == "churn":
        # Until the stop file appears: delete a churn name, create a new one.
        i, made = 0, n // 4
        while not os.path.exists(d + ".stop"):
            try:
                os.unlink("%s/churn%06d" % (d, i))
            except FileNotFoundError:
                pass
            os.mknod("%s/churn%06d" % (d, made), 0o100644)
            i += 1
            made += 1
        print("churned", i, flush=True)
        sys.exit(0)
    libc = ctypes.CDLL(None, use_errno=True)
    SYS_getdents64 = 217
    buf = ctypes.create_string_buffer(1024)
    passes = int(sys.argv[4])
    for p in range(passes):
        fd = os.open(d, os.O_RDONLY | os.O_DIRECTORY)
        seen, calls = {}, 0
        while True:
            got = libc.syscall(SYS_getdents64, fd, buf, len(buf))
            if got < 0:
                print("getdents64 errno", ctypes.get_errno(), flush=True)
                sys.exit(1)
            if got == 0:
                break
            calls += 1
            raw, pos = buf.raw, 0
            while pos < got:
                ino, off, reclen, dtype = struct.unpack_from("QqHB", raw, pos)
                name = raw[pos + 19 : pos + reclen].split(b"\0", 1)[0].decode()
                seen[name] = seen.get(name, 0) + 1
                pos += reclen
        os.close(fd)
        keep = {k: v for k, v in seen.items() if k.startswith("keep")}
        missing = [i for i in range(n) if ("keep%06d" % i) not in keep]
        dups = sorted(k for k, v in seen.items() if v > 1)
        print("pass", p, "entries", len(seen), "calls", calls, "missing", len(missing), "dups", len(dups), flush=True)
        if missing or dups or seen.get(".") != 1 or seen.get("..") != 1:
            print("missing", missing[:10], "dups", dups[:10], flush=True)
            sys.exit(1)
    """#

  func testReaddirWhileTheDirectoryChanges() throws {
    let python = try tool("python3")
    let scripts = try makeTempDir("stress-readdir")
    defer { _ = sh("rm -rf \(shq(scripts))") }
    let script = scripts + "/readdir.py"
    try Self.readdirScript.write(toFile: script, atomically: true, encoding: .utf8)
    let dir = vfs.path + "/big"
    let n = 20_000
    XCTAssertEqual(mkdir(dir, 0o755), 0)
    let make = MountTests.run(python, [script, dir, "make", "\(n)"], timeout: 150)
    XCTAssertEqual(make.status, 0, "\(make)")
    let churn = try Child(python, [script, dir, "churn", "\(n)"])
    let reader = MountTests.run(python, [script, dir, "read", "\(n)", "3"], timeout: 150)
    XCTAssertNotEqual(creat(dir + ".stop", 0o644), -1)
    let churnStatus = churn.wait(timeout: 30)
    if churnStatus == nil { churn.signal(SIGKILL) }
    XCTAssertEqual(reader.status, 0, "reader: \(reader.stdout.suffix(2000)) \(reader.stderr)")
    XCTAssertEqual(churnStatus, 0, "churn: \(churn.stdout) \(churn.stderr.suffix(1000))")
    print("readdir: \(reader.out.replacingOccurrences(of: "\n", with: "; ")); \(churn.stdout)")
    // The churner really changed the directory during the listing.
    let churned =
      Int(
        churn.stdout.split(separator: " ").last?.trimmingCharacters(in: .whitespacesAndNewlines)
          ?? "") ?? 0
    XCTAssertGreaterThan(churned, 0, "the churner made no change")
    assertHealthy()
  }
}
