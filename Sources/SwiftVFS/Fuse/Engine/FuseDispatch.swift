import CFuse
import SwiftVFSCore

#if canImport(Glibc)
  import Glibc
#endif

/// The native engine's opcode table: each decoded request to the bridge
/// method libfuse's loop would call for it (fuse_lowlevel.c's do_*()
/// functions: the in-arguments turned into the bridge's C vocabulary).
/// Opcodes the bridge does not serve get ENOSYS, as libfuse answers an
/// empty slot; FORGET, BATCH_FORGET, INTERRUPT and NOTIFY_REPLY get no reply.
extension FuseConnection {
  /// WRITE, its data read in place: from a decoded request, or straight
  /// from the transport's buffer (`handleWrite`), which saves copying up to
  /// 1 MiB per request.
  func dispatchWrite(
    _ header: FuseInHeader, _ w: FuseWriteIn, _ data: UnsafeRawBufferPointer, fd: Int32
  ) {
    var fi = FuseConnection.fileInfo(fh: w.fh, flags: w.flags)
    fi.writepage = w.writeFlags & FuseWriteIn.flagCache != 0 ? 1 : 0
    fi.lock_owner = w.lockOwner
    let replier = FuseReplier(
      native: FuseChannelRequest(header: header, umask: 0, fd: fd, connection: self))
    bridge.write(
      replier, header.nodeid, data.baseAddress?.assumingMemoryBound(to: CChar.self), data.count,
      off_t(Int64(bitPattern: w.offset)), &fi)
  }

  /// A WRITE served from `head` (header and fuse_write_in) and `data` where
  /// the transport left them; false if it is not a well-formed WRITE (the
  /// caller decodes the whole message then).
  func handleWrite(head: UnsafeRawBufferPointer, data: UnsafeRawBufferPointer, fd: Int32) -> Bool {
    guard
      let (header, w) = decoder.decodeWriteHead(FuseWireBytes(Array(head)), dataCount: data.count)
    else { return false }
    dispatchWrite(header, w, data, fd: fd)
    return true
  }

  func dispatch(_ request: FuseRequest, fd: Int32) {
    let header = request.header
    let ino = header.nodeid
    func replier(umask: UInt32 = 0) -> FuseReplier {
      FuseReplier(
        native: FuseChannelRequest(header: header, umask: umask, fd: fd, connection: self))
    }
    func enosys() { _ = sendError(unique: header.unique, .ENOSYS, fd: fd) }

    switch request.body {
    case .lookup(let name):
      FuseConnection.withCName(name) { bridge.lookup(replier(), ino, $0) }
    case .forget(let f):
      bridge.forget(replier(), ino, f.nlookup)
    case .batchForget(let list):
      var forgets = list.map { fuse_forget_data(ino: $0.nodeid, nlookup: $0.nlookup) }
      forgets.withUnsafeMutableBufferPointer {
        bridge.forgetMulti(replier(), $0.count, $0.baseAddress)
      }
    case .getattr:
      bridge.getattr(replier(), ino)
    case .setattr(let s):
      setattr(replier(), ino, s)
    case .readlink:
      bridge.readlink(replier(), ino)
    case .symlink(let name, let target):
      FuseConnection.withCName(name) { cName in
        FuseConnection.withCString(target) { bridge.symlink(replier(), $0, ino, cName) }
      }
    case .mknod(let m, let name):
      FuseConnection.withCName(name) {
        bridge.mknod(replier(umask: m.umask), ino, $0, mode_t(m.mode), dev_t(m.rdev))
      }
    case .mkdir(let m, let name):
      FuseConnection.withCName(name) {
        bridge.mkdir(replier(umask: m.umask), ino, $0, mode_t(m.mode))
      }
    case .unlink(let name):
      FuseConnection.withCName(name) { bridge.unlink(replier(), ino, $0) }
    case .rmdir(let name):
      FuseConnection.withCName(name) { bridge.rmdir(replier(), ino, $0) }
    case .rename(let newdir, let oldName, let newName):
      FuseConnection.withCName(oldName) { old in
        FuseConnection.withCName(newName) { bridge.rename(replier(), ino, old, newdir, $0, 0) }
      }
    case .rename2(let r, let oldName, let newName):
      FuseConnection.withCName(oldName) { old in
        FuseConnection.withCName(newName) {
          bridge.rename(replier(), ino, old, r.newdir, $0, r.flags)
        }
      }
    case .link(let l, let newName):
      FuseConnection.withCName(newName) { bridge.link(replier(), l.oldnodeid, ino, $0) }
    case .open(let o):
      var fi = fuse_file_info()
      fi.flags = Int32(bitPattern: o.flags)
      bridge.open(replier(), ino, &fi)
    case .opendir(let o):
      var fi = fuse_file_info()
      fi.flags = Int32(bitPattern: o.flags)
      bridge.opendir(replier(), ino, &fi)
    case .create(let c, let name):
      var fi = fuse_file_info()
      fi.flags = Int32(bitPattern: c.flags)
      FuseConnection.withCName(name) {
        bridge.create(replier(umask: c.umask), ino, $0, mode_t(c.mode), &fi)
      }
    case .read(let r):
      var fi = FuseConnection.fileInfo(fh: r.fh, flags: r.flags)
      fi.lock_owner = r.lockOwner
      bridge.read(replier(), ino, Int(r.size), off_t(Int64(bitPattern: r.offset)), &fi)
    case .write(let w, let data):
      data.storage.withUnsafeBytes { raw in
        dispatchWrite(
          header, w, UnsafeRawBufferPointer(rebasing: raw[data.start..<data.start + data.count]),
          fd: fd)
      }
    case .statfs:
      bridge.statfs(replier(), ino)
    case .release(let r):
      var fi = FuseConnection.fileInfo(fh: r.fh, flags: r.flags)
      fi.lock_owner = r.lockOwner
      bridge.release(replier(), ino, &fi, .release)
    case .releasedir(let r):
      var fi = FuseConnection.fileInfo(fh: r.fh, flags: r.flags)
      bridge.release(replier(), ino, &fi, .releasedir)
    case .fsync(let f):
      var fi = FuseConnection.fileInfo(fh: f.fh, flags: 0)
      bridge.fsync(replier(), ino, Int32(f.fsyncFlags & FuseFsyncIn.fdatasync), &fi, .fsync)
    case .fsyncdir(let f):
      var fi = FuseConnection.fileInfo(fh: f.fh, flags: 0)
      bridge.fsync(replier(), ino, Int32(f.fsyncFlags & FuseFsyncIn.fdatasync), &fi, .fsyncdir)
    case .flush(let f):
      var fi = FuseConnection.fileInfo(fh: f.fh, flags: 0)
      fi.lock_owner = f.lockOwner
      bridge.flush(replier(), ino, &fi)
    case .readdir(let r):
      var fi = FuseConnection.fileInfo(fh: r.fh, flags: r.flags)
      bridge.readdir(
        replier(), ino, Int(r.size), off_t(Int64(bitPattern: r.offset)), &fi, plus: false)
    case .readdirplus(let r):
      var fi = FuseConnection.fileInfo(fh: r.fh, flags: r.flags)
      bridge.readdir(
        replier(), ino, Int(r.size), off_t(Int64(bitPattern: r.offset)), &fi, plus: true)
    case .setxattr(let s, let name, let value):
      FuseConnection.withCName(name) { cName in
        value.storage.withUnsafeBytes { raw in
          let bytes = raw.baseAddress.map { ($0 + value.start).assumingMemoryBound(to: CChar.self) }
          bridge.setxattr(
            replier(), ino, cName, value.count == 0 ? nil : bytes, value.count,
            Int32(bitPattern: s.flags))
        }
      }
    case .getxattr(let g, let name):
      FuseConnection.withCName(name) { bridge.getxattr(replier(), ino, $0, Int(g.size)) }
    case .listxattr(let g):
      bridge.listxattr(replier(), ino, Int(g.size))
    case .removexattr(let name):
      FuseConnection.withCName(name) { bridge.removexattr(replier(), ino, $0) }
    case .fallocate(let f):
      var fi = FuseConnection.fileInfo(fh: f.fh, flags: 0)
      bridge.fallocate(
        replier(), ino, Int32(bitPattern: f.mode), off_t(Int64(bitPattern: f.offset)),
        off_t(Int64(bitPattern: f.length)), &fi)
    case .lseek(let l):
      var fi = FuseConnection.fileInfo(fh: l.fh, flags: 0)
      bridge.lseek(
        replier(), ino, off_t(Int64(bitPattern: l.offset)), Int32(bitPattern: l.whence), &fi)
    case .ioctl(let i, let input):
      var fi = FuseConnection.fileInfo(fh: i.fh, flags: 0)
      let argument = UnsafeMutableRawPointer(bitPattern: UInt(truncatingIfNeeded: i.arg))
      input.storage.withUnsafeBytes { raw in
        let bytes =
          input.count == 0 ? nil : raw.baseAddress.map { UnsafeRawPointer($0 + input.start) }
        bridge.ioctl(
          replier(), ino, i.cmd, argument, &fi, i.flags, bytes, input.count, Int(i.outSize))
      }
    case .poll(let p):
      var fi = FuseConnection.fileInfo(fh: p.fh, flags: 0)
      fi.poll_events = p.events
      let waiter: PollWaiter? =
        p.flags & FusePollIn.scheduleNotify != 0
        ? FuseNativePollWaiter(kh: p.kh, connection: self) : nil
      bridge.poll(replier(), ino, &fi, waiter: waiter)
    case .interrupt(let i):
      interrupts.interrupt(i.unique)
    case .destroy:
      _ = send(encoder.empty(unique: header.unique), fd: fd)
    case .notifyReply:
      break
    case .fuseInit:
      // A second INIT: libfuse answers EIO.
      _ = sendError(unique: header.unique, .EIO, fd: fd)
    case .tmpfile(let c):
      var fi = fuse_file_info()
      fi.flags = Int32(bitPattern: c.flags)
      bridge.tmpfile(replier(umask: c.umask), ino, mode_t(c.mode), &fi)
    case .statx:
      bridge.statx(replier(), ino)
    case .syncfs:
      bridge.syncfs(replier(), ino)
    case .access, .unparsed:
      enosys()
    }
  }

  /// SETATTR as do_setattr() passes it: the `stat` and the FUSE_SET_ATTR_*
  /// bits libfuse keeps (the FATTR_* bits have the same values).
  private func setattr(_ req: FuseReplier, _ ino: UInt64, _ s: FuseSetattrIn) {
    var st = stat()
    st.st_mode = s.mode
    st.st_uid = s.uid
    st.st_gid = s.gid
    st.st_size = Int(Int64(bitPattern: s.size))
    st.st_atim = timespec(tv_sec: Int(Int64(bitPattern: s.atime)), tv_nsec: Int(s.atimensec))
    st.st_mtim = timespec(tv_sec: Int(Int64(bitPattern: s.mtime)), tv_nsec: Int(s.mtimensec))
    st.st_ctim = timespec(tv_sec: Int(Int64(bitPattern: s.ctime)), tv_nsec: Int(s.ctimensec))
    let kept: FuseSetattrValid = [
      .mode, .uid, .gid, .size, .atime, .mtime, .atimeNow, .mtimeNow, .ctime, .killSuidgid,
    ]
    let toSet = Int32(bitPattern: s.valid.intersection(kept).rawValue)
    bridge.setattr(req, ino, &st, toSet, throughFile: s.valid.contains(.fh))
  }

  static func fileInfo(fh: UInt64, flags: UInt32) -> fuse_file_info {
    var fi = fuse_file_info()
    fi.fh = fh
    fi.flags = Int32(bitPattern: flags)
    return fi
  }

  /// A name from the decoder as a C string for the bridge.
  static func withCName(_ name: FuseName, _ body: (UnsafePointer<CChar>) -> Void) {
    withCString(name.bytes, body)
  }

  static func withCString(_ bytes: [UInt8], _ body: (UnsafePointer<CChar>) -> Void) {
    (bytes + [0]).withUnsafeBufferPointer { raw in
      raw.withMemoryRebound(to: CChar.self) { if let p = $0.baseAddress { body(p) } }
    }
  }
}
