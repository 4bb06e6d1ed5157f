# The virtual board's flash: a littlefs2 image in a file, as a MicroPython block device.
#
# Same geometry as an ESP32's filesystem partition (4 KB erase blocks). `cut_after` simulates a
# power cut: after that many block writes the device stops; the write in progress lands only in
# part and every later write raises PowerCut, as if the chip had lost power mid-program.

BLOCK_SIZE = 4096
ERASED = b"\xff" * 256  # erased NOR flash reads as 0xFF; small, the heap is 64 KB


class PowerCut(OSError):
    pass


class FileBlockDevice:
    def __init__(self, path, block_count=256, block_size=BLOCK_SIZE):
        self.block_size = block_size
        self.block_count = block_count
        self.writes = 0
        self.cut_after = -1  # block writes before the simulated power cut; -1: never
        self.cut_bytes = 0  # how much of the interrupted write reaches the flash
        self.dead = False
        try:
            self.f = open(path, "r+b")
        except OSError:
            self.f = open(path, "w+b")
        self.f.seek(0, 2)
        size = self.f.tell()
        want = block_count * block_size
        if size < want:
            while size < want:
                self.f.write(ERASED)
                size += len(ERASED)
            self.f.flush()

    def readblocks(self, block, buf, offset=0):
        self.f.seek(block * self.block_size + offset)
        self.f.readinto(buf)

    def writeblocks(self, block, buf, offset=None):
        if self.dead:
            raise PowerCut(5)
        if offset is None:
            offset = 0
        if self.cut_after >= 0 and self.writes >= self.cut_after:
            self.dead = True
            n = self.cut_bytes if self.cut_bytes < len(buf) else len(buf)
            if n:
                self.f.seek(block * self.block_size + offset)
                self.f.write(memoryview(buf)[:n])
                self.f.flush()
            raise PowerCut(5)
        self.f.seek(block * self.block_size + offset)
        self.f.write(buf)
        self.f.flush()
        self.writes += 1

    def ioctl(self, op, arg):
        if op == 4:  # block count
            return self.block_count
        if op == 5:  # block size
            return self.block_size
        if op == 6:  # erase
            if self.dead:
                raise PowerCut(5)
            self.f.seek(arg * self.block_size)
            for _ in range(self.block_size // len(ERASED)):
                self.f.write(ERASED)
            self.f.flush()
            return 0
        return 0

    def close(self):
        self.f.close()


def mount(path, mount_point="/flash", block_count=256):
    """Mount the image at `path` and return the device. A blank image is formatted; an image
    that exists but will not mount raises, so a damaged flash is never silently wiped."""
    import vfs

    dev = FileBlockDevice(path, block_count)
    try:
        fs = vfs.VfsLfs2(dev)
    except OSError:
        head = bytearray(64)
        dev.readblocks(0, head)
        if head != b"\xff" * 64:
            raise
        vfs.VfsLfs2.mkfs(dev)
        fs = vfs.VfsLfs2(dev)
    vfs.mount(fs, mount_point)
    return dev
