import Foundation
import SwiftVFS
import XCTest

@testable import SwiftVFSCore
@testable import SwiftVFSDevices
@testable import SwiftVFSFileSystems
@testable import SwiftVFSFuse

/// Differential fuzzing (issue 6): random operations on memfs through the
/// `VFS` facade and on `RefModel`, every result compared, then the whole tree.
///
/// `swift test` runs a fixed seed for a bounded number of operations.
/// `scripts/fuzz` runs longer: SWIFTVFS_FUZZ_SEED (first seed),
/// SWIFTVFS_FUZZ_OPS (operations per run) and SWIFTVFS_FUZZ_RUNS (seeds).
final class FuzzTests: XCTestCase {
  func testDifferentialFuzzAgainstTheReferenceModel() throws {
    let env = ProcessInfo.processInfo.environment
    let seed = env["SWIFTVFS_FUZZ_SEED"].flatMap { UInt64($0) } ?? 0x5EED_0006
    let ops = env["SWIFTVFS_FUZZ_OPS"].flatMap { Int($0) } ?? 3000
    let runs = env["SWIFTVFS_FUZZ_RUNS"].flatMap { Int($0) } ?? 1
    var total = 0
    for run in 0..<runs {
      let fuzzer = try Fuzzer(seed: seed &+ UInt64(run))
      let failures = fuzzer.run(operations: ops)
      total += fuzzer.done
      if !failures.isEmpty {
        XCTFail(
          "seed \(seed &+ UInt64(run)): \(failures.count) failure(s):\n"
            + failures.prefix(15).joined(separator: "\n"))
        break
      }
    }
    if runs > 1 || env["SWIFTVFS_FUZZ_OPS"] != nil {
      print("fuzz: \(runs) run(s) from seed \(seed), \(total) operations")
    }
  }

  /// The fuzzer must really exercise the file system: most kinds of
  /// operation succeed sometimes and fail sometimes.
  func testTheFuzzerCoversSuccessesAndErrors() throws {
    let fuzzer = try Fuzzer(seed: 42)
    XCTAssertEqual(fuzzer.run(operations: 1500), [])
    for op in [
      "create", "mkdir", "write", "truncate", "fallocate", "link", "rename", "unlink", "rmdir",
    ] {
      XCTAssertGreaterThan(fuzzer.outcomes[op + ":ok", default: 0], 0, "\(op) never succeeded")
    }
    let errors = fuzzer.outcomes.filter { !$0.key.hasSuffix(":ok") }.map(\.key)
    for e in ["EEXIST", "ENOENT", "ENOTEMPTY", "EISDIR", "ENOTDIR", "EINVAL"] {
      XCTAssertTrue(errors.contains { $0.hasSuffix(e) }, "no operation answered \(e)")
    }
  }
}

final class Fuzzer {
  typealias Rng = SeededGenerator

  let h: MemfsHarness
  var vfs: VFS { h.vfs }
  var model = RefModel()
  var rng: Rng
  var failures: [String] = []
  var outcomes: [String: Int] = [:]
  var done = 0
  /// Lookups taken by the path walks of the current operation.
  private var held: [Inode] = []

  static let names = ["a", "b", "c", "d", "e", "f"]
  static let xattrNames = ["user.a", "user.b", "trusted.t", "security.s"]

  init(seed: UInt64) throws {
    rng = Rng(state: seed)
    h = try MemfsHarness()
  }

  // MARK: - Picking paths

  private func name() -> String { Fuzzer.names[rng.below(Fuzzer.names.count)] }

  /// Mostly an existing directory; sometimes any node or a path that does not exist.
  private func dirPath(_ all: [(path: [String], node: RefNode)]) -> [String] {
    if rng.chance(88) {
      let dirs = all.filter { $0.node.isDir }
      return dirs[rng.below(dirs.count)].path
    }
    return anyPath(all)
  }

  private func anyPath(_ all: [(path: [String], node: RefNode)]) -> [String] {
    let base = all[rng.below(all.count)].path
    return rng.chance(85) ? base : base + [name()]
  }

  private func nodePath(_ all: [(path: [String], node: RefNode)]) -> [String] {
    let nonRoot = all.filter { !$0.path.isEmpty }
    if nonRoot.isEmpty || rng.chance(8) { return [name()] }
    return nonRoot[rng.below(nonRoot.count)].path
  }

  /// The VFS's path walk, holding a lookup per component as the kernel would.
  private func walk(_ path: [String]) throws(Errno) -> Inode {
    var cur = vfs.root
    for part in path {
      let next = try vfs.lookup(cur, try FileName(part))
      held.append(next)
      cur = next
    }
    return cur
  }

  private func releaseHeld() {
    for inode in held { vfs.forget(inode.ino, count: 1) }
    held.removeAll()
  }

  private func show(_ r: Result<String, Errno>) -> String {
    switch r {
    case .success(let s): return s.isEmpty ? "ok" : "ok(\(s))"
    case .failure(let e): return e.description
    }
  }

  // MARK: - Running

  func run(operations: Int) -> [String] {
    for step in 0..<operations {
      let all = model.allPaths()
      let (label, real, expected) = oneOperation(all)
      releaseHeld()
      done += 1
      let kind = String(label.prefix { $0 != " " })
      switch expected {
      case .success: outcomes[kind + ":ok", default: 0] += 1
      case .failure(let e): outcomes[kind + ":" + e.description, default: 0] += 1
      }
      if show(real) != show(expected) {
        failures.append(
          "step \(step): \(label): memfs answered \(show(real)), the model \(show(expected))")
        return failures
      }
      if step % 1000 == 999 {
        let problems = ConsistencyChecker.check(vfs)
        if !problems.isEmpty {
          failures.append("step \(step): checker: " + problems.prefix(10).joined(separator: "; "))
          return failures
        }
      }
    }
    compareTrees()
    failures += ConsistencyChecker.check(vfs).map { "final checker: " + $0 }
    let stats = vfs.icache.stats
    if stats.lookups != 1 || stats.openFiles != 0 {
      failures.append("lookups or open files left behind: \(stats)")
    }
    return failures
  }

  /// Runs one random operation on both sides; returns its description and both results.
  private func oneOperation(_ all: [(path: [String], node: RefNode)])
    -> (String, Result<String, Errno>, Result<String, Errno>)
  {
    let r = rng.below(100)
    switch r {
    case 0..<12:
      let dir = dirPath(all)
      let n = name()
      let exclusive = rng.chance(30)
      let truncate = rng.chance(20)
      let label = "create \(dir)/\(n) excl=\(exclusive) trunc=\(truncate)"
      let real = attempt {
        let d = try walk(dir)
        var flags = Int32(O_RDWR) | OpenFlags.create
        if exclusive { flags |= OpenFlags.exclusive }
        if truncate { flags |= OpenFlags.truncate }
        let (inode, fh, _) = try vfs.create(
          d, try FileName(n), mode: 0o644, flags: flags, cred: .root)
        vfs.release(fh)
        vfs.forget(inode.ino, count: 1)
      }
      let want = modelAttempt(dir) { model.create($0, n, exclusive: exclusive, truncate: truncate) }
      return (label, real, want)

    case 12..<19:
      let dir = dirPath(all)
      let n = name()
      let label = "mkdir \(dir)/\(n)"
      let real = attempt {
        let inode = try vfs.mkdir(try walk(dir), try FileName(n), mode: 0o755, cred: .root)
        vfs.forget(inode.ino, count: 1)
      }
      return (label, real, modelAttempt(dir) { model.mkdir($0, n) })

    case 19..<22:
      let dir = dirPath(all)
      let n = name()
      let target = Array("t\(rng.below(1000))".utf8)
      let label = "symlink \(dir)/\(n)"
      let real = attempt {
        let inode = try vfs.symlink(try walk(dir), try FileName(n), target: target, cred: .root)
        vfs.forget(inode.ino, count: 1)
      }
      return (label, real, modelAttempt(dir) { model.symlink($0, n, target) })

    case 22..<40:
      let path = nodePath(all)
      let offset = rng.chance(90) ? rng.below(20000) : rng.below(200_000)
      let count = rng.chance(10) ? 0 : 1 + rng.below(6000)
      let append = rng.chance(15)
      let bytes = (0..<count).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
      let label = "write \(path) at \(offset) count \(count) append=\(append)"
      let real = attemptValue { () throws -> String in
        let inode = try walk(path)
        let flags = append ? Int32(O_WRONLY) | OpenFlags.append : Int32(O_RDWR)
        let (fh, file) = try vfs.open(inode, flags: flags, cred: .root)
        defer { vfs.release(fh) }
        return String(
          try bytes.withUnsafeBytes { try vfs.write(file, from: $0, at: Int64(offset)) })
      }
      let want: Result<String, Errno> = model.resolve(path).flatMap { node in
        model.write(node, bytes, at: offset, append: append).map { String($0) }
      }
      return (label, real, want)

    case 40..<47:
      let path = nodePath(all)
      let size = rng.chance(80) ? rng.below(30000) : rng.below(300_000)
      let label = "truncate \(path) to \(size)"
      let real = attempt {
        _ = try vfs.setattr(try walk(path), SetAttr(size: Int64(size)), cred: .root)
      }
      return (label, real, modelAttempt(path) { model.truncate($0, size) })

    case 47..<53:
      let path = nodePath(all)
      let punch = rng.chance(70)
      let offset = rng.below(30000)
      let length = 1 + rng.below(rng.chance(50) ? 9000 : 40000)
      let label = "fallocate \(path) \(punch ? "punch" : "alloc") \(offset)+\(length)"
      let real = attempt {
        let inode = try walk(path)
        let (fh, file) = try vfs.open(inode, flags: Int32(O_RDWR), cred: .root)
        defer { vfs.release(fh) }
        let mode = punch ? Fallocate.punchHole | Fallocate.keepSize : 0
        try vfs.fallocate(file, mode: mode, offset: Int64(offset), length: Int64(length))
      }
      let want = modelAttempt(path) {
        model.fallocate($0, punch: punch, offset: offset, length: length)
      }
      return (label, real, want)

    case 53..<60:
      let source = nodePath(all)
      let dir = dirPath(all)
      let n = name()
      let label = "link \(source) -> \(dir)/\(n)"
      let real = attempt {
        let inode = try walk(source)
        let d = try walk(dir)
        let l = try vfs.link(inode, d, try FileName(n))
        vfs.forget(l.ino, count: 1)
      }
      let want: Result<String, Errno> = model.resolve(source).flatMap { node in
        model.resolve(dir).flatMap { d in
          model.link(node, d, n).map { .failure($0) } ?? .success("")
        }
      }
      return (label, real, want)

    case 60..<74:
      let oldDir = dirPath(all)
      let newDir = dirPath(all)
      let oldName = rng.chance(60) ? (nodePath(all).last ?? name()) : name()
      let newName = name()
      let flagChoice = rng.below(100)
      let flags: RenameFlags =
        flagChoice < 60
        ? []
        : flagChoice < 78
          ? .noReplace
          : flagChoice < 98
            ? .exchange
            : [
              .noReplace, .exchange,
            ]
      let label = "rename \(oldDir)/\(oldName) -> \(newDir)/\(newName) flags=\(flags.rawValue)"
      let real = attempt {
        let a = try walk(oldDir)
        let b = try walk(newDir)
        try vfs.rename(a, try FileName(oldName), b, try FileName(newName), flags: flags)
      }
      let want: Result<String, Errno> = model.resolve(oldDir).flatMap { a in
        model.resolve(newDir).flatMap { b in
          model.rename(a, oldName, b, newName, flags: flags).map { .failure($0) } ?? .success("")
        }
      }
      return (label, real, want)

    case 74..<82:
      let dir = dirPath(all)
      let n = rng.chance(70) ? (nodePath(all).last ?? name()) : name()
      let label = "unlink \(dir)/\(n)"
      let real = attempt { try vfs.unlink(try walk(dir), try FileName(n)) }
      return (label, real, modelAttempt(dir) { model.unlink($0, n) })

    case 82..<87:
      // Half the time an existing empty directory, so that rmdir succeeds too.
      let empty = all.filter { $0.node.isDir && $0.node.entries.isEmpty && !$0.path.isEmpty }
      var dir = dirPath(all)
      var n = name()
      if !empty.isEmpty, rng.chance(50) {
        let pick = empty[rng.below(empty.count)].path
        dir = Array(pick.dropLast())
        n = pick.last!
      }
      let label = "rmdir \(dir)/\(n)"
      let real = attempt { try vfs.rmdir(try walk(dir), try FileName(n)) }
      return (label, real, modelAttempt(dir) { model.rmdir($0, n) })

    case 87..<93:
      let path = nodePath(all)
      let x = Fuzzer.xattrNames[rng.below(Fuzzer.xattrNames.count)]
      let value = (0..<rng.below(40)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
      let flags: XattrFlags = [[], [], .create, .replace][rng.below(4)]
      let label = "setxattr \(path) \(x) flags=\(flags.rawValue)"
      let real = attempt { try vfs.setxattr(try walk(path), x, value, flags: flags, cred: .root) }
      return (label, real, modelAttempt(path) { model.setxattr($0, x, value, flags: flags) })

    case 93..<96:
      let path = nodePath(all)
      let x = Fuzzer.xattrNames[rng.below(Fuzzer.xattrNames.count)]
      let label = "removexattr \(path) \(x)"
      let real = attempt { try vfs.removexattr(try walk(path), x, cred: .root) }
      return (label, real, modelAttempt(path) { model.removexattr($0, x) })

    case 96..<99:
      // Read a whole file back (or stat anything) and compare.
      let path = nodePath(all)
      let label = "check \(path)"
      let real = attemptValue { () throws -> String in
        let inode = try walk(path)
        let st = try vfs.getattr(inode)
        guard inode.type == .regular else { return "\(inode.type) size \(st.size)" }
        let data = try h.readAll(inode)
        return "file size \(st.size) sum \(Fuzzer.digest(data))"
      }
      let want: Result<String, Errno> = model.resolve(path).map { node in
        switch node.kind {
        case .file: return "file size \(node.data.count) sum \(Fuzzer.digest(node.data))"
        case .dir: return "directory size \(40 + 20 * node.entries.count)"
        case .symlink: return "symlink size \(node.data.count)"
        }
      }
      return (label, real, want)

    default:
      // Make the dcache forget, so lookups go to the directories again.
      let keep = rng.below(20)
      vfs.dcache.shrink(to: keep)
      return ("shrink dcache to \(keep)", .success(""), .success(""))
    }
  }

  static func digest(_ data: [UInt8]) -> UInt64 {
    var h: UInt64 = 0xcbf2_9ce4_8422_2325
    for b in data { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
    return h
  }

  private func attempt(_ body: () throws -> Void) -> Result<String, Errno> {
    attemptValue {
      try body()
      return ""
    }
  }

  private func attemptValue(_ body: () throws -> String) -> Result<String, Errno> {
    do {
      return .success(try body())
    } catch let e as Errno {
      return .failure(e)
    } catch {
      return .failure(Errno(.max))
    }
  }

  private func modelAttempt(_ path: [String], _ op: (RefNode) -> Errno?) -> Result<String, Errno> {
    model.resolve(path).flatMap { node in op(node).map { .failure($0) } ?? .success("") }
  }

  // MARK: - The final comparison

  private func compareTrees() {
    let nlinks = model.nlinks()
    var inoOf: [Int: UInt64] = [:]  // model id -> ino
    var idOf: [UInt64: Int] = [:]
    func compare(_ node: RefNode, _ inode: Inode, _ path: String) {
      if let ino = inoOf[node.id], ino != inode.ino {
        failures.append("\(path): model node \(node.id) is ino \(ino) elsewhere, \(inode.ino) here")
      }
      if let id = idOf[inode.ino], id != node.id {
        failures.append("\(path): ino \(inode.ino) is model node \(id) elsewhere, \(node.id) here")
      }
      inoOf[node.id] = inode.ino
      idOf[inode.ino] = node.id
      guard let st = try? vfs.getattr(inode) else {
        failures.append("\(path): getattr failed")
        return
      }
      let kind: RefNode.Kind =
        inode.type == .directory ? .dir : inode.type == .symlink ? .symlink : .file
      guard kind == node.kind else {
        failures.append("\(path): memfs has a \(kind), the model a \(node.kind)")
        return
      }
      if Int(st.nlink) != nlinks[ObjectIdentifier(node)] {
        failures.append("\(path): nlink \(st.nlink), model \(nlinks[ObjectIdentifier(node)] ?? -1)")
      }
      let xattrs = (try? vfs.listxattr(inode, cred: .root)) ?? []
      if Set(xattrs) != Set(node.xattrs.keys) {
        failures.append("\(path): xattrs \(xattrs.sorted()), model \(node.xattrs.keys.sorted())")
      }
      for (k, v) in node.xattrs where (try? vfs.getxattr(inode, k, cred: .root)) != v {
        failures.append("\(path): xattr \(k) differs")
      }
      switch node.kind {
      case .file:
        if st.size != Int64(node.data.count) {
          failures.append("\(path): size \(st.size), model \(node.data.count)")
        } else if (try? h.readAll(inode)) != node.data {
          failures.append("\(path): data differs")
        }
        let covered = (Int64(node.data.count) + 4095) / 4096 * 8
        if st.blocks > covered {
          failures.append("\(path): st_blocks \(st.blocks) for a size of \(node.data.count)")
        }
      case .symlink:
        if (try? vfs.readlink(inode)) != node.data { failures.append("\(path): target differs") }
      case .dir:
        let names = (try? h.names(inode)) ?? []
        if Set(names) != Set(node.entries.keys) || names.count != node.entries.count {
          failures.append("\(path): lists \(names.sorted()), model \(node.entries.keys.sorted())")
          return
        }
        for (name, child) in node.entries {
          guard let childInode = try? vfs.resolveUnlocked(inode, try FileName(name)) else {
            failures.append("\(path)/\(name): lookup failed")
            continue
          }
          compare(child, childInode, path + "/" + name)
        }
      }
    }
    compare(model.root, vfs.root, "")
  }
}
