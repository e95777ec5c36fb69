// Writes the zip layout torch.save produces (caffe2::serialize::PyTorchStreamWriter, torch 2.x): every record
// stored uncompressed under "archive/", data aligned by an "FB" padding extra field, general-purpose flags 0x0808
// (UTF-8 names, sizes and CRC in a data descriptor after the data), zip64 end records. Because the CRC follows
// the data, a helper thread computes CRCs while this thread writes, so a save costs max(CRC, disk) rather than
// their sum. Records of at least kDirectMin bytes whose memory is page-aligned start on a page boundary of the
// file and go to disk with O_DIRECT (no copy into the page cache, no cache pollution); everything else is
// buffered. The pages each path writes are disjoint. torch.load, Python's zipfile and Lightning read the result;
// tests compare it with torch.save's (same byte offsets when no record takes the O_DIRECT path).
#pragma once

#include <fcntl.h>
#include <unistd.h>
#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include <cerrno>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <cstring>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace fastlit::io {

constexpr uint64_t kDirectMin = 1ull << 20;  // records this large are written with O_DIRECT when possible
constexpr uint64_t kDirectAlign = 4096;

// zlib's CRC-32. Portable: slice-by-8 (~2-3 GB/s). x86-64 with PCLMULQDQ: carry-less-multiply folding of 64
// bytes per step (the method of Intel's "Fast CRC Computation Using PCLMULQDQ", as in zlib/Chromium), several
// times faster, which matters because this runs beside training on the CPU.
inline uint32_t crc32_slice8(uint32_t crc, const uint8_t* p, size_t n) {
  struct Tables {
    uint32_t t[8][256];
    Tables() {
      for (uint32_t i = 0; i < 256; ++i) {
        uint32_t c = i;
        for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        t[0][i] = c;
      }
      for (int k = 1; k < 8; ++k)
        for (int i = 0; i < 256; ++i) t[k][i] = (t[k - 1][i] >> 8) ^ t[0][t[k - 1][i] & 0xff];
    }
  };
  static const Tables tables;
  const auto& T = tables.t;
  crc = ~crc;
  while (n >= 8) {
    uint64_t v;
    std::memcpy(&v, p, 8);  // little-endian hosts only (as torch.save's byteorder record says)
    uint32_t lo = static_cast<uint32_t>(v) ^ crc, hi = static_cast<uint32_t>(v >> 32);
    crc = T[7][lo & 0xff] ^ T[6][(lo >> 8) & 0xff] ^ T[5][(lo >> 16) & 0xff] ^ T[4][lo >> 24] ^
          T[3][hi & 0xff] ^ T[2][(hi >> 8) & 0xff] ^ T[1][(hi >> 16) & 0xff] ^ T[0][hi >> 24];
    p += 8;
    n -= 8;
  }
  while (n--) crc = T[0][(crc ^ *p++) & 0xff] ^ (crc >> 8);
  return ~crc;
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define FASTLIT_CLMUL __attribute__((target("pclmul,sse4.1")))
FASTLIT_CLMUL inline __m128i crc_load(const uint8_t* q) { return _mm_loadu_si128(reinterpret_cast<const __m128i*>(q)); }
// x * x^(k) folded onto the next 16 bytes: both 64-bit halves multiplied by their constant, xor-ed in.
FASTLIT_CLMUL inline __m128i crc_fold(__m128i x, __m128i k, __m128i next) {
  return _mm_xor_si128(_mm_xor_si128(_mm_clmulepi64_si128(x, k, 0x11), _mm_clmulepi64_si128(x, k, 0x00)), next);
}

// `n` >= 64 and a multiple of 16; `crc` is the running register (already inverted), returned likewise.
FASTLIT_CLMUL inline uint32_t crc32_fold(uint32_t crc, const uint8_t* p, size_t n) {
  const __m128i k1k2 = _mm_set_epi64x(0x01c6e41596, 0x0154442bd4), k3k4 = _mm_set_epi64x(0x00ccaa009e, 0x01751997d0);
  const __m128i k5k0 = _mm_set_epi64x(0, 0x0163cd6124), poly = _mm_set_epi64x(0x01f7011641, 0x01db710641);
  __m128i x1 = _mm_xor_si128(crc_load(p), _mm_cvtsi32_si128(static_cast<int>(crc)));
  __m128i x2 = crc_load(p + 16), x3 = crc_load(p + 32), x4 = crc_load(p + 48);
  p += 64;
  n -= 64;
  for (; n >= 64; p += 64, n -= 64) {
    x1 = crc_fold(x1, k1k2, crc_load(p));
    x2 = crc_fold(x2, k1k2, crc_load(p + 16));
    x3 = crc_fold(x3, k1k2, crc_load(p + 32));
    x4 = crc_fold(x4, k1k2, crc_load(p + 48));
  }
  x1 = crc_fold(crc_fold(crc_fold(x1, k3k4, x2), k3k4, x3), k3k4, x4);
  for (; n >= 16; p += 16, n -= 16) x1 = crc_fold(x1, k3k4, crc_load(p));
  // 128 -> 64 bits, then Barrett reduction to 32.
  const __m128i mask = _mm_setr_epi32(~0, 0, ~0, 0);
  __m128i x0 = _mm_clmulepi64_si128(x1, k3k4, 0x10);
  x1 = _mm_xor_si128(_mm_srli_si128(x1, 8), x0);
  x0 = _mm_srli_si128(x1, 4);
  x1 = _mm_xor_si128(_mm_clmulepi64_si128(_mm_and_si128(x1, mask), k5k0, 0x00), x0);
  x0 = _mm_clmulepi64_si128(_mm_and_si128(x1, mask), poly, 0x10);
  x0 = _mm_clmulepi64_si128(_mm_and_si128(x0, mask), poly, 0x00);
  return static_cast<uint32_t>(_mm_extract_epi32(_mm_xor_si128(x1, x0), 1));
}
#endif

inline uint32_t crc32(uint32_t crc, const void* data, size_t n) {
  auto p = static_cast<const uint8_t*>(data);
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
  static const bool clmul = __builtin_cpu_supports("pclmul") && __builtin_cpu_supports("sse4.1");
  if (clmul && n >= 64) {
    size_t body = n & ~static_cast<size_t>(15);
    crc = ~crc32_fold(~crc, p, body);
    p += body;
    n -= body;
  }
#endif
  return crc32_slice8(crc, p, n);
}

struct ZipEntry {
  std::string name;  // without the "archive/" prefix
  const char* data;
  uint64_t size;
  int64_t crc = -1;  // the data's CRC-32 when the caller already has it (computed while staging), else -1
};

class ZipWriter {
 public:
  // `fd` is written from offset 0; `direct_fd` (or -1) is the same file opened with O_DIRECT. Buffered
  // writeback starts every `writeback` bytes so the final fsync is short.
  ZipWriter(int fd, int direct_fd, uint64_t alignment, bool crc, bool force_zip64, uint64_t writeback = 64ull << 20)
      : fd_(fd), dfd_(direct_fd), align_(alignment), crc_(crc), zip64_(force_zip64), writeback_(writeback) {}

  // Writes the whole archive; returns 0 or the errno of the first failed write.
  int write(const std::vector<ZipEntry>& entries) {
    crcs_.assign(entries.size(), 0);
    crc_done_ = 0;
    abort_ = false;
    std::thread helper;
    if (crc_) helper = std::thread([&] { compute_crcs(entries); });
    std::vector<uint64_t> offsets;
    for (size_t i = 0; i < entries.size() && !err_; ++i) {
      const auto& e = entries[i];
      bool direct = dfd_ >= 0 && e.size >= kDirectMin && reinterpret_cast<uintptr_t>(e.data) % kDirectAlign == 0;
      offsets.push_back(pos());
      local_header(e, offsets.back(), direct ? kDirectAlign : align_);
      if (direct) {
        flush();
        uint64_t body = e.size / kDirectAlign * kDirectAlign, off = 0;
        for (; off < body && !err_; off += kDirectChunk)
          pwrite_all(dfd_, e.data + off, std::min<uint64_t>(kDirectChunk, body - off), buf_at_ + off);
        if (err_ == EINVAL) {  // the device wants larger blocks than kDirectAlign: buffered from here on
          err_ = 0;
          dfd_ = -1;  // (the caller owns and closes the descriptor)
          buffered_from(e.data, body, buf_at_);
        }
        buf_at_ += body;
        buf_.append(e.data + body, e.size - body);  // the tail shares its page with what follows
      } else if (e.size < (64u << 10)) {
        buf_.append(e.data, e.size);
      } else {
        flush();
        for (uint64_t off = 0; off < e.size && !err_; off += kChunk)
          buffered(e.data + off, std::min<uint64_t>(kChunk, e.size - off));
      }
      uint32_t c = crc_of(i);
      if (e.size == 0) continue;  // as miniz: an empty record has no data descriptor (flags 0x0800)
      put32(0x08074b50);  // data descriptor
      put32(c);
      if (e.size >= 0xFFFFFFFFull || zip64_) {
        put64(e.size);
        put64(e.size);
      } else {
        put32(static_cast<uint32_t>(e.size));
        put32(static_cast<uint32_t>(e.size));
      }
    }
    if (helper.joinable()) {
      abort_ = true;  // on an early error the helper may stop; it never blocks
      helper.join();
    }
    if (err_) return err_;
    uint64_t cd_start = pos();
    for (size_t i = 0; i < entries.size(); ++i) central_header(entries[i], crcs_[i], offsets[i]);
    uint64_t cd_size = pos() - cd_start, zip64_end = pos(), n = entries.size();
    put32(0x06064b50);  // zip64 end of central directory record
    put64(44);
    put16(0x031e);
    put16(0x2d);
    put32(0);
    put32(0);
    put64(n);
    put64(n);
    put64(cd_size);
    put64(cd_start);
    put32(0x07064b50);  // zip64 end of central directory locator
    put32(0);
    put64(zip64_end);
    put32(1);
    put32(0x06054b50);  // end of central directory record
    put16(0);
    put16(0);
    put16(static_cast<uint16_t>(std::min<uint64_t>(n, 0xFFFF)));
    put16(static_cast<uint16_t>(std::min<uint64_t>(n, 0xFFFF)));
    put32(static_cast<uint32_t>(std::min<uint64_t>(cd_size, 0xFFFFFFFF)));
    put32(static_cast<uint32_t>(std::min<uint64_t>(cd_start, 0xFFFFFFFF)));
    put16(0);
    flush();
    return err_;
  }

  uint32_t combined_crc() const {
    uint32_t c = 0;
    for (auto x : crcs_) c ^= x;
    return c;
  }

 private:
  static constexpr uint64_t kChunk = 16ull << 20, kDirectChunk = 2ull << 20;

  void compute_crcs(const std::vector<ZipEntry>& entries) {
    for (size_t i = 0; i < entries.size() && !abort_; ++i) {
      uint32_t c = entries[i].crc >= 0 ? static_cast<uint32_t>(entries[i].crc) : 0;
      for (uint64_t off = 0; entries[i].crc < 0 && off < entries[i].size && !abort_; off += kChunk)
        c = crc32(c, entries[i].data + off, std::min<uint64_t>(kChunk, entries[i].size - off));
      std::lock_guard<std::mutex> lock(mu_);
      crcs_[i] = c;
      crc_done_ = i + 1;
      cv_.notify_all();
    }
  }

  uint32_t crc_of(size_t i) {
    if (!crc_) return 0;
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] { return crc_done_ > i; });
    return crcs_[i];
  }

  void local_header(const ZipEntry& e, uint64_t offset, uint64_t align) {
    std::string name = "archive/" + e.name;
    // The data starts right after header + name + extra; pad the extra so it starts on an aligned offset.
    uint64_t start = offset + 30 + name.size() + 4, pad = (align - start % align) % align;
    put32(0x04034b50);
    put16(0);       // version needed (as torch writes it)
    put16(e.size ? 0x0808 : 0x0800);  // bit 3: sizes/CRC in the data descriptor; bit 11: UTF-8 name
    put16(0);       // stored
    put32(0);       // time, date
    put32(0);       // crc (in the descriptor)
    put32(0);
    put32(0);
    put16(static_cast<uint16_t>(name.size()));
    put16(static_cast<uint16_t>(4 + pad));
    buf_ += name;
    put16(0x4246);  // "FB": torch's padding field
    put16(static_cast<uint16_t>(pad));
    buf_.append(pad, 'Z');
  }

  void central_header(const ZipEntry& e, uint32_t c, uint64_t offset) {
    std::string name = "archive/" + e.name;
    bool big_size = zip64_ || e.size >= 0xFFFFFFFFull, big_off = zip64_ || offset >= 0xFFFFFFFFull;
    uint16_t extra = (big_size ? 16 : 0) + (big_off ? 8 : 0);
    put32(0x02014b50);
    put16(0);  // made by
    put16(0);  // needed
    put16(e.size ? 0x0808 : 0x0800);
    put16(0);
    put32(0);
    put32(c);
    put32(big_size ? 0xFFFFFFFFu : static_cast<uint32_t>(e.size));
    put32(big_size ? 0xFFFFFFFFu : static_cast<uint32_t>(e.size));
    put16(static_cast<uint16_t>(name.size()));
    put16(extra ? extra + 4 : 0);
    put16(0);  // comment
    put16(0);  // disk
    put16(0);  // internal attributes
    put32(0);  // external attributes
    put32(big_off ? 0xFFFFFFFFu : static_cast<uint32_t>(offset));
    buf_ += name;
    if (extra) {  // zip64 extended information: the overflowing fields, in this order
      put16(0x0001);
      put16(extra);
      if (big_size) {
        put64(e.size);
        put64(e.size);
      }
      if (big_off) put64(offset);
    }
  }

  uint64_t pos() const { return buf_at_ + buf_.size(); }
  void put16(uint16_t v) { buf_.append(reinterpret_cast<const char*>(&v), 2); }
  void put32(uint32_t v) { buf_.append(reinterpret_cast<const char*>(&v), 4); }
  void put64(uint64_t v) { buf_.append(reinterpret_cast<const char*>(&v), 8); }

  void flush() {
    if (!buf_.empty()) buffered(buf_.data(), buf_.size());
    buf_.clear();
  }

  // Buffered write at the current end (pos() with an empty buf_).
  void buffered(const char* p, uint64_t n) {
    pwrite_all(fd_, p, n, buf_at_);
    buf_at_ += n;
#ifdef __linux__
    if (!err_ && buf_at_ - synced_ >= writeback_) {  // start writing these pages out now, without waiting
      ::sync_file_range(fd_, static_cast<off64_t>(synced_), static_cast<off64_t>(buf_at_ - synced_),
                        SYNC_FILE_RANGE_WRITE);
      synced_ = buf_at_;
    }
#endif
  }

  // Rewrites [at, at + n) buffered (after a refused O_DIRECT write, which may have written part of it).
  void buffered_from(const char* p, uint64_t n, uint64_t at) {
    for (uint64_t off = 0; off < n && !err_; off += kChunk)
      pwrite_all(fd_, p + off, std::min<uint64_t>(kChunk, n - off), at + off);
  }

  void pwrite_all(int fd, const char* p, uint64_t n, uint64_t at) {
    while (n > 0 && !err_) {
      ssize_t w = ::pwrite(fd, p, std::min<uint64_t>(n, 1ull << 30), static_cast<off_t>(at));
      if (w < 0) {
        if (errno != EINTR) err_ = errno;
        continue;
      }
      if (w == 0) err_ = EIO;
      p += w;
      at += static_cast<uint64_t>(w);
      n -= static_cast<uint64_t>(w);
    }
  }

  int fd_, dfd_;
  uint64_t align_;
  bool crc_, zip64_;
  uint64_t writeback_;
  std::string buf_;
  uint64_t buf_at_ = 0, synced_ = 0;  // file offset of buf_[0]; end of the range handed to writeback
  int err_ = 0;
  std::vector<uint32_t> crcs_;
  size_t crc_done_ = 0;
  std::atomic<bool> abort_{false};
  std::mutex mu_;
  std::condition_variable cv_;
};

}  // namespace fastlit::io
