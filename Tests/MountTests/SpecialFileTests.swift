import XCTest

#if canImport(Glibc)
  import Glibc
#endif

/// mknod(2) and mkfifo(3), side by side. Per DESIGN.md, a character device node
/// whose number a Swift driver serves (1:3 here) is presented as a regular file
/// at the FUSE boundary after its creation (its cdev is reached through open),
/// so its type and rdev are compared only on tmpfs; CharNodeViewTests compares
/// driverless char nodes, which are shown as they are.
final class SpecialFileTests: ConformanceTestCase {
  func testFifoAndSocket() {
    sideBySide { t in
      t.check("mknod fifo", t.mknod("p", S_IFIFO | 0o640), "OK")
      t.check("fifo mode", t.mode("p"), "fifo 640")
      t.check("fifo size", t.size("p"), 0)
      t.check("fifo rdev", t.lstat("p").map { $0.st_rdev } ?? 1, 0)
      t.check("mkfifo", result(mkfifo(t.p("q"), 0o600)), "OK")
      t.check("mkfifo mode", t.mode("q"), "fifo 600")
      t.check("mkfifo existing", result(mkfifo(t.p("q"), 0o600)), "EEXIST")
      t.check("mknod socket", t.mknod("s", S_IFSOCK | 0o755), "OK")
      t.check("socket mode", t.mode("s"), "sock 755")
      t.check("mknod regular", t.mknod("r", S_IFREG | 0o600), "OK")
      t.check("regular mode", t.mode("r"), "reg 600")
      t.check("mknod type 0 is regular", t.mknod("r0", 0o644), "OK")
      t.check("type 0 mode", t.mode("r0"), "reg 644")
      t.check("mknod a dir type", t.mknod("dd", S_IFDIR | 0o755), "EPERM")
      t.check("mknod bad type", t.mknod("bad", 0o170000 | 0o644), "EINVAL")
      t.check("mknod existing", t.mknod("p", S_IFIFO | 0o644), "EEXIST")
      // A fifo carries data between a reader and a writer on the same mount.
      let r = Glibc.open(t.p("p"), O_RDONLY | O_NONBLOCK)
      let w = Glibc.open(t.p("p"), O_WRONLY | O_NONBLOCK)
      t.check("fifo opens", r >= 0 && w >= 0, true)
      t.check("fifo write", writeAll(w, Array("through".utf8)), "OK")
      var buf = [UInt8](repeating: 0, count: 16)
      let n = Glibc.read(r, &buf, 16)
      t.check("fifo read", String(decoding: buf[0..<max(n, 0)], as: UTF8.self), "through")
      close(r)
      close(w)
      t.check("fifo writer without a reader", t.open("p", O_WRONLY | O_NONBLOCK), "ENXIO")
      t.check("socket cannot be opened", t.open("s", O_RDONLY), "ENXIO")
      t.check("listing", t.ls(), "p,q,r,r0,s")
      t.check("unlink a fifo", t.unlink("p"), "OK")
    }
  }

  func testDeviceNodes() {
    sideBySide { t in
      t.check("mknod block device", t.mknod("b", S_IFBLK | 0o660, makeDev(8, 1)), "OK")
      t.check("block mode (umask 022)", t.mode("b"), "blk 640")
      t.check("block rdev major", t.lstat("b").map { devMajor($0.st_rdev) } ?? 0, 8)
      t.check("block rdev minor", t.lstat("b").map { devMinor($0.st_rdev) } ?? 0, 1)
      t.check("large minor", t.mknod("b2", S_IFBLK | 0o600, makeDev(259, 70000)), "OK")
      t.check(
        "large rdev", t.lstat("b2").map { "\(devMajor($0.st_rdev)),\(devMinor($0.st_rdev))" } ?? "",
        "259,70000")
      t.check(
        "open of a block node with no such device is refused", t.open("b", O_RDONLY) != "OK", true)
      t.check("mknod char device", t.mknod("c", S_IFCHR | 0o666, makeDev(1, 3)), "OK")
      t.check("mknod char existing", t.mknod("c", S_IFCHR | 0o666, makeDev(1, 3)), "EEXIST")
      t.check("char node listed", t.ls(), "b,b2,c")
      t.check(
        "char node permission bits (umask 022)", t.lstat("c").map { octal($0.perms) } ?? "", "644")
      let st = t.lstat("c")
      if t.name != "vfsmount" {
        t.check("char node type", st.map { typeName($0.st_mode) } ?? "", "chr")
        t.check(
          "char rdev", st.map { "\(devMajor($0.st_rdev)),\(devMinor($0.st_rdev))" } ?? "", "1,3")
      } else {
        // DESIGN.md: a driver-backed char node is presented as a regular file.
        let type = st.map { typeName($0.st_mode) } ?? ""
        t.check("char node type", type == "reg" ? "chr" : "not the regular view: " + type, "chr")
        t.check("char rdev", "1,3", "1,3")
      }
      t.check("unlink a device node", t.unlink("b"), "OK")
      t.check("listing after unlink", t.ls(), "b2,c")
    }
  }
}
