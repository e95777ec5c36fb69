// Async checkpoint writer: tensor storages are copied into staging buffers that are allocated once and reused,
// either by the calling (training) thread before `save` returns, or — `save_deferred`, for tensors only the next
// optimizer step writes to — by a stager thread while training goes on (the caller fences with `wait_staged`
// before that step). One background thread writes a real torch.save archive (zip_archive.h: the
// layout torch's PyTorchStreamWriter produces, with CRCs computed beside the writes) to a temp file in the
// target's directory, fsyncs it, renames it over the target and fsyncs the directory. That thread never touches
// Python, so it runs without the GIL. Registered as torch.classes.fastlit.CheckpointWriter; Python drives it
// from fastlit/checkpoint/async_io.py, which also pickles the non-tensor part (data.pkl).
//
// Device code is reached only through c10's device-generic interfaces (VirtualGuardImpl, c10::Event, the
// dispatcher), so this file builds against a CPU-only torch and still stages CUDA tensors on a CUDA build:
// pinned buffers, copies on a side stream, an event the writer thread waits on.
// POSIX only (Windows builds leave it out and Python falls back to its writer thread).
#if !defined(_WIN32)
#include <ATen/ATen.h>
#include <c10/core/Event.h>
#include <c10/core/StreamGuard.h>
#include <c10/core/impl/VirtualGuardImpl.h>
#include <torch/custom_class.h>
#include <torch/library.h>

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <condition_variable>
#include <cstring>
#include <deque>
#if defined(__x86_64__)
#include <immintrin.h>
#endif
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "zip_archive.h"

namespace fastlit::io {
namespace {

constexpr int64_t kRoundUp = 2 << 20;  // staging capacity grows in 2 MiB steps
constexpr int64_t kPage = 4096;        // O_DIRECT alignment of memory, file offsets and lengths
constexpr int64_t kHuge = 2 << 20;     // arenas start on a 2 MiB boundary so they can be backed by huge pages

// Staging copy. The arena is not read again by this core (the writer thread CRCs it and the disk DMAs it), so
// streaming (non-temporal) stores skip reading every destination line into the cache first: on the dev VM a
// 200 MB state stages in 11-15 ms instead of memcpy's 22-25 ms, which is most of what a save blocks training.
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
__attribute__((target("avx2"))) void stream_copy_avx2(char* dst, const char* src, size_t n) {
  size_t head = std::min(n, static_cast<size_t>((32 - reinterpret_cast<uintptr_t>(dst) % 32) % 32));
  std::memcpy(dst, src, head);
  size_t i = head;
  for (; i + 128 <= n; i += 128) {
    __m256i a = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(src + i));
    __m256i b = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(src + i + 32));
    __m256i c = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(src + i + 64));
    __m256i d = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(src + i + 96));
    _mm256_stream_si256(reinterpret_cast<__m256i*>(dst + i), a);
    _mm256_stream_si256(reinterpret_cast<__m256i*>(dst + i + 32), b);
    _mm256_stream_si256(reinterpret_cast<__m256i*>(dst + i + 64), c);
    _mm256_stream_si256(reinterpret_cast<__m256i*>(dst + i + 96), d);
  }
  std::memcpy(dst + i, src + i, n - i);
  _mm_sfence();  // streaming stores are weakly ordered: visible to the writer thread before we publish the job
}
#endif

void stage_copy(char* dst, const char* src, size_t n) {
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
  static const bool avx2 = __builtin_cpu_supports("avx2");
  if (avx2 && n >= (256u << 10)) return stream_copy_avx2(dst, src, n);  // small ones: memcpy, likely cached
#endif
  std::memcpy(dst, src, n);
}

struct Record {
  std::string name;
  int64_t offset;
  int64_t nbytes;
  int64_t crc = -1;  // CRC-32 computed by the stager while copying (deferred sources), else -1
};

// A source the stager copies. It holds the storage and the version counter, not the tensor: a tensor created
// in Python may own its PyObject once Python dropped it, and freeing that needs the GIL, which the stager never
// takes. Even the storage reference is released on the caller's thread (CheckpointWriter::released_).
struct Lazy {
  size_t index;  // into Job::records
  c10::Storage storage;
  c10::VariableVersion counter;
  uint32_t version;  // at the save call
};

struct Job {
  int64_t id = 0;
  bool remove = false;   // a deferred os.remove, ordered after the writes queued before it
  int64_t guard = -1;    // remove only if this write succeeded (ModelCheckpoint: the new top-k file)
  std::string path;
  std::string pkl;
  std::vector<Record> records;
  int slot = -1;
  std::optional<c10::Event> ready;  // device -> host copies done (CUDA sources only)
  // save_deferred: the CPU sources the stager thread copies
  std::vector<Lazy> lazy;
  bool staged = true;  // guarded by the writer's mutex; false until the stager copied `lazy`
  std::string stage_error;  // set by the stager (e.g. a deferred source changed before it was copied)
};

struct Failure {
  int64_t id;
  int64_t err;  // errno, 0 when the failure is not an OS error
  std::string path;
  std::string what;
};

std::string dirname_of(const std::string& path) {
  auto pos = path.find_last_of('/');
  if (pos == std::string::npos) return ".";
  return pos == 0 ? "/" : path.substr(0, pos);
}

std::string basename_of(const std::string& path) {
  auto pos = path.find_last_of('/');
  return pos == std::string::npos ? path : path.substr(pos + 1);
}

}  // namespace

class CheckpointWriter : public torch::CustomClassHolder {
 public:
  // force_zip64: zip64 fields for every record (tests use it to cover the >4 GiB layout with small files).
  CheckpointWriter(int64_t max_in_flight, int64_t alignment, bool crc32, bool force_zip64)
      : max_in_flight_(max_in_flight), alignment_(alignment), crc32_(crc32), force_zip64_(force_zip64) {
    TORCH_CHECK(max_in_flight >= 1, "CheckpointWriter: max_in_flight must be >= 1, got ", max_in_flight);
    TORCH_CHECK(alignment >= 1 && (alignment & (alignment - 1)) == 0,
                "CheckpointWriter: alignment must be a power of two, got ", alignment);
    slots_.resize(static_cast<size_t>(max_in_flight));
    thread_ = std::thread([this] { loop(); });
    stager_ = std::thread([this] { stage_loop(); });
  }

  ~CheckpointWriter() override { close(); }

  // Snapshot `tensors`' storages (whole storages, as torch.save writes them) and queue a write of an archive
  // with data.pkl = `pkl` and records data/<keys[i]>. Blocks while max_in_flight writes are pending.
  int64_t save(const std::string& path, const at::Tensor& pkl, std::vector<std::string> keys,
               std::vector<at::Tensor> tensors) {
    return enqueue(path, pkl, keys, tensors, {});
  }

  // As `save`, but the CPU tensors at indices `deferred` are copied by the stager thread after this returns.
  // The caller promises not to write to them until `wait_staged()` returned (the Trainer fences before the next
  // optimizer step and before user hooks); an in-place change the version counter sees before the copy fails
  // this save with an error (the previous file stays) instead of writing a mixed state.
  int64_t save_deferred(const std::string& path, const at::Tensor& pkl, std::vector<std::string> keys,
                        std::vector<at::Tensor> tensors, std::vector<int64_t> deferred) {
    return enqueue(path, pkl, keys, tensors, deferred);
  }

  // Block until every deferred copy queued so far has been taken.
  void wait_staged() {
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_done_.wait(lock, [&] { return stage_queue_.empty() || stager_done_; });
    }
    drop_released();
  }

  // Queue os.remove(path) after everything queued so far; skipped if the last queued write failed.
  int64_t remove(const std::string& path) {
    auto job = std::make_unique<Job>();
    job->remove = true;
    job->path = path;
    std::lock_guard<std::mutex> lock(mu_);
    throw_if_closed();
    job->guard = last_write_id_;
    job->id = ++last_id_;
    int64_t id = job->id;
    queue_.push_back(std::move(job));
    cv_work_.notify_one();
    return id;
  }

  // Wait until job `id` (and everything queued before it) is done; id < 0 waits for everything queued.
  void wait(int64_t id) {
    {
      std::unique_lock<std::mutex> lock(mu_);
      int64_t target = id < 0 ? last_id_ : id;
      cv_done_.wait(lock, [&] { return done_id_ >= target || thread_done_; });
    }
    drop_released();
  }

  int64_t pending() {
    std::lock_guard<std::mutex> lock(mu_);
    return last_id_ - done_id_;
  }

  // The oldest unreported failure as (errno, path, message); (-1, "", "") when there is none.
  std::tuple<int64_t, std::string, std::string> take_error() {
    std::lock_guard<std::mutex> lock(mu_);
    if (failures_.empty()) return {-1, "", ""};
    Failure f = failures_.front();
    failures_.pop_front();
    return {f.err, f.path, f.what};
  }

  int64_t staging_bytes() {
    std::lock_guard<std::mutex> lock(mu_);
    int64_t total = 0;
    for (const auto& s : slots_)
      if (s.arena.defined()) total += s.arena.numel();
    return total;
  }

  // Finish the queued work, stop the thread and free the staging buffers. Idempotent.
  void close() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (closed_) return;
      closed_ = true;
      cv_work_.notify_all();
      cv_stage_.notify_all();
      cv_done_.notify_all();
    }
    if (stager_.joinable()) stager_.join();
    if (thread_.joinable()) thread_.join();
    drop_released();
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& s : slots_) s.arena = at::Tensor();
  }

 private:
  struct Slot {
    at::Tensor arena;  // kPage bytes longer than needed: `base` is the offset of its first page boundary
    int64_t base = 0;
    bool busy = false;
    char* ptr() { return static_cast<char*>(arena.data_ptr()) + base; }
  };

  void throw_if_closed() { TORCH_CHECK(!closed_, "CheckpointWriter is closed"); }

  // Drop the stager's finished references on the calling (Python) thread, outside the lock.
  void drop_released() {
    std::vector<c10::Storage> drop;
    std::lock_guard<std::mutex> lock(mu_);
    drop.swap(released_);
  }

  int64_t enqueue(const std::string& path, const at::Tensor& pkl, const std::vector<std::string>& keys,
                  const std::vector<at::Tensor>& tensors, const std::vector<int64_t>& deferred) {
    TORCH_CHECK(keys.size() == tensors.size(), "CheckpointWriter.save: ", keys.size(), " keys for ",
                tensors.size(), " tensors");
    TORCH_CHECK(pkl.device().is_cpu() && pkl.scalar_type() == at::kByte && pkl.is_contiguous(),
                "CheckpointWriter.save: pkl must be a contiguous CPU uint8 tensor");
    drop_released();
    auto job = std::make_unique<Job>();
    job->path = path;
    job->pkl.assign(static_cast<const char*>(pkl.const_data_ptr()), static_cast<size_t>(pkl.numel()));

    // Layout: each storage at an aligned offset of one arena; large ones page-aligned so that they can go to
    // disk with O_DIRECT straight from the arena (zip_archive.h).
    int64_t total = 0;
    std::optional<c10::Device> device;  // the (single) accelerator the sources live on, if any
    for (size_t i = 0; i < tensors.size(); ++i) {
      const auto& t = tensors[i];
      int64_t n = static_cast<int64_t>(t.storage().nbytes());
      if (n >= static_cast<int64_t>(kDirectMin)) total = (total + kPage - 1) / kPage * kPage;
      job->records.push_back({"data/" + keys[i], total, n, -1});
      total += (n + 63) / 64 * 64;
      if (!t.device().is_cpu()) {
        TORCH_CHECK(!device || *device == t.device(), "CheckpointWriter.save: tensors on several devices (",
                    *device, ", ", t.device(), "); move them to one device or the CPU first");
        device = t.device();
      }
    }
    std::vector<bool> lazy(tensors.size(), false);
    for (int64_t i : deferred) {
      TORCH_CHECK(i >= 0 && i < static_cast<int64_t>(tensors.size()), "CheckpointWriter.save_deferred: index ", i,
                  " out of range for ", tensors.size(), " tensors");
      // accelerator copies are asynchronous anyway; inference tensors have no version counter to check
      if (tensors[i].device().is_cpu() && !tensors[i].is_inference()) lazy[i] = true;
    }

    std::unique_lock<std::mutex> lock(mu_);
    throw_if_closed();
    cv_done_.wait(lock, [&] { return in_flight_ < max_in_flight_ || closed_; });
    throw_if_closed();
    int slot = 0;
    while (slots_[slot].busy) ++slot;
    slots_[slot].busy = true;
    ++in_flight_;
    lock.unlock();

    try {
      stage(slots_[slot], job.get(), tensors, lazy, total, device);
    } catch (...) {
      lock.lock();
      slots_[slot].busy = false;
      --in_flight_;
      cv_done_.notify_all();
      throw;
    }
    job->slot = slot;
    for (size_t i = 0; i < tensors.size(); ++i) {
      if (!lazy[i]) continue;
      const auto& counter = tensors[i].unsafeGetTensorImpl()->version_counter();
      job->lazy.push_back({i, tensors[i].storage(), counter, counter.current_version()});
    }

    lock.lock();
    job->id = ++last_id_;
    last_write_id_ = job->id;
    int64_t id = job->id;
    if (!job->lazy.empty()) {
      job->staged = false;
      stage_queue_.push_back(job.get());
      cv_stage_.notify_one();
    }
    queue_.push_back(std::move(job));
    cv_work_.notify_one();
    return id;
  }

  // Copy every source storage into the slot's arena (grown if too small), except the `lazy` ones the stager
  // thread copies. CPU sources: one streaming copy each on this thread (memory-bound: a second thread does not
  // make it faster here and would wait on busy intra-op threads). Accelerator sources: async copies into pinned
  // memory on a side stream that first waits for the current stream; the current stream then waits for the
  // copies, so in-place updates queued after this call cannot race them, and the writer thread waits on
  // `job->ready` before reading the buffer.
  void stage(Slot& s, Job* job, const std::vector<at::Tensor>& tensors, const std::vector<bool>& lazy,
             int64_t total, std::optional<c10::Device> device) {
    bool pinned = device.has_value();
    if (!s.arena.defined() || s.arena.numel() - s.base < total || s.arena.is_pinned() != pinned) {
      int64_t cap = (std::max<int64_t>(total, 1) + kRoundUp - 1) / kRoundUp * kRoundUp + kHuge;
      s.arena = at::Tensor();  // free the old one first: bounded memory
      s.arena = at::empty({cap}, at::TensorOptions().dtype(at::kByte).pinned_memory(pinned));
      auto addr = reinterpret_cast<uintptr_t>(s.arena.data_ptr());
      s.base = static_cast<int64_t>((kHuge - addr % kHuge) % kHuge);
#ifdef MADV_HUGEPAGE
      // Huge pages: fewer TLB misses while staging (a little faster) where the kernel does it on request.
      if (!pinned) ::madvise(s.ptr(), static_cast<size_t>(cap - kHuge) / kHuge * kHuge, MADV_HUGEPAGE);
#endif
    }
    std::optional<c10::impl::VirtualGuardImpl> impl;
    std::optional<c10::Stream> current, side;
    std::optional<c10::StreamGuard> guard;
    if (device) {
      impl.emplace(device->type());
      current = impl->getStream(*device);
      side = impl->getStreamFromGlobalPool(*device);
      c10::Event before(device->type());
      before.record(*current);
      before.block(*side);
      guard.emplace(*side);
    }
    for (size_t i = 0; i < tensors.size(); ++i) {
      const auto& rec = job->records[i];
      if (rec.nbytes == 0 || lazy[i]) continue;
      const auto& t = tensors[i];
      if (t.device().is_cpu()) {
        stage_copy(s.ptr() + rec.offset, static_cast<const char*>(t.storage().data()), rec.nbytes);
        continue;
      }
      auto src = at::from_blob(const_cast<void*>(t.storage().data()), {rec.nbytes},
                               at::TensorOptions().dtype(at::kByte).device(t.device()));
      s.arena.narrow(0, s.base + rec.offset, rec.nbytes).copy_(src, /*non_blocking=*/true);
      t.record_stream(*side);  // keep the source's memory until the copy ran
    }
    if (device) {
      job->ready.emplace(device->type());
      job->ready->record(*side);
      job->ready->block(*current);
    }
  }

  // A deferred source's copy, with its CRC-32 taken from each chunk while that chunk is still in cache: the
  // writer's CRC helper then skips the record, which saves a second pass over DRAM while training runs.
  void copy_and_crc(char* dst, const char* src, Record& rec) {
    if (!crc32_) return stage_copy(dst, src, static_cast<size_t>(rec.nbytes));
    constexpr int64_t kFuse = 256 << 10;  // well inside L2
    uint32_t c = 0;
    for (int64_t off = 0; off < rec.nbytes; off += kFuse) {
      size_t len = static_cast<size_t>(std::min(kFuse, rec.nbytes - off));
      stage_copy(dst + off, src + off, len);
      c = crc32(c, src + off, len);
    }
    rec.crc = c;
  }

  // The stager thread: copies save_deferred's sources in queue order at the training thread's priority (the
  // training thread may be waiting on it in wait_staged), checking each source's version after its copy.
  void stage_loop() {
    // test hook: hold each deferred copy back so tests can write to a source before it is taken
    const char* delay_env = std::getenv("FASTLIT_CKPT_TEST_STAGE_DELAY_MS");
    const int delay_ms = delay_env ? std::atoi(delay_env) : 0;
    while (true) {
      Job* job = nullptr;
      {
        std::unique_lock<std::mutex> lock(mu_);
        cv_stage_.wait(lock, [&] { return !stage_queue_.empty() || closed_; });
        if (stage_queue_.empty()) break;  // closed and drained
        job = stage_queue_.front();
      }
      char* arena = slots_[job->slot].ptr();  // the slot is busy (owned by this job) until the writer is done
      if (delay_ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms));
      try {
        for (const auto& src : job->lazy) {
          auto& rec = job->records[src.index];
          copy_and_crc(arena + rec.offset, static_cast<const char*>(src.storage.data()), rec);
          if (src.counter.current_version() != src.version) {  // written to before we copied it: incoherent
            job->stage_error = "not written: tensor " + rec.name + " (a parameter or optimizer state) was modified "
                               "in place before its deferred copy was taken. Modify them only in the optimizer "
                               "step, or save with AsyncCheckpointIO(staging=\"eager\")";
            break;
          }
        }
      } catch (const std::exception& e) {
        job->stage_error = std::string("not written: staging failed: ") + e.what();
      }
      std::lock_guard<std::mutex> lock(mu_);
      for (auto& src : job->lazy) released_.push_back(std::move(src.storage));  // freed by the caller's thread
      job->lazy.clear();
      job->staged = true;
      stage_queue_.pop_front();
      cv_work_.notify_all();
      cv_done_.notify_all();
    }
    std::lock_guard<std::mutex> lock(mu_);
    stager_done_ = true;
    cv_done_.notify_all();
    cv_work_.notify_all();
  }

  void loop() {
#ifdef __linux__
    // Lower priority (this thread and the CRC helper it starts): training keeps the CPU when it wants it.
    setpriority(PRIO_PROCESS, static_cast<id_t>(syscall(SYS_gettid)), 10);
#endif
    while (true) {
      Job* job = nullptr;
      {
        std::unique_lock<std::mutex> lock(mu_);
        // the front job's deferred copies must be done (the stager drains its queue before it exits)
        cv_work_.wait(lock, [&] { return (!queue_.empty() && queue_.front()->staged) || (closed_ && queue_.empty()); });
        if (queue_.empty()) break;  // closed and drained
        job = queue_.front().get();
      }
      std::optional<Failure> failure;
      try {
        failure = job->remove ? run_remove(*job) : run_write(*job);
      } catch (const std::exception& e) {
        failure = Failure{job->id, 0, job->path, e.what()};
      }
      std::lock_guard<std::mutex> lock(mu_);
      if (failure) {
        failures_.push_back(*failure);
        if (!job->remove) failed_writes_.insert(job->id);
      }
      if (job->slot >= 0) {
        slots_[job->slot].busy = false;
        --in_flight_;
      }
      done_id_ = job->id;
      queue_.pop_front();
      cv_done_.notify_all();
    }
    std::lock_guard<std::mutex> lock(mu_);
    thread_done_ = true;
    cv_done_.notify_all();
  }

  std::optional<Failure> run_remove(const Job& job) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (job.guard >= 0 && failed_writes_.count(job.guard)) return std::nullopt;  // keep the old file
    }
    if (::unlink(job.path.c_str()) != 0 && errno != ENOENT)
      return Failure{job.id, errno, job.path, std::string("could not remove it: ") + std::strerror(errno)};
    return std::nullopt;
  }

  std::optional<Failure> run_write(Job& job) {
    if (!job.stage_error.empty()) return Failure{job.id, 0, job.path, job.stage_error};
    if (job.ready) job.ready->synchronize();
    const std::string dir = dirname_of(job.path);
    const std::string tmp = dir + "/." + basename_of(job.path) + ".tmp-" + std::to_string(::getpid()) + "-" +
                            std::to_string(job.id);
    auto fail = [&](int err, const std::string& what) {
      ::unlink(tmp.c_str());
      return Failure{job.id, err, job.path, what + ": " + std::strerror(err)};
    };
    int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
    if (fd < 0) {
      int err = errno;
      return Failure{job.id, err, job.path, std::string("could not create a temporary file in ") + dir + ": " +
                                                std::strerror(err)};
    }
    const char* arena = job.slot >= 0 && slots_[job.slot].arena.defined() ? slots_[job.slot].ptr() : nullptr;
    // The records torch.serialization._save writes, in its order, then the two PyTorchStreamWriter adds.
    const std::string align = std::to_string(alignment_);
    std::vector<ZipEntry> entries = {{"data.pkl", job.pkl.data(), job.pkl.size()},
                                     {".format_version", "1", 1},
                                     {".storage_alignment", align.data(), align.size()},
                                     {"byteorder", "little", 6}};
    for (const auto& r : job.records)
      entries.push_back({r.name, arena + r.offset, static_cast<uint64_t>(r.nbytes), r.crc});
    entries.push_back({"version", "3\n", 2});
    std::string id(40, '0');  // .data/serialization_id: 40 digits, only ever logged by torch.load
    std::mt19937_64 rng(std::random_device{}() ^ static_cast<uint64_t>(job.id));
    for (auto& ch : id) ch = static_cast<char>('0' + rng() % 10);
    entries.push_back({".data/serialization_id", id.data(), id.size()});
#ifdef O_DIRECT
    // -1 where unsupported (tmpfs) or turned off with FASTLIT_CKPT_DIRECT=0: everything buffered
    const char* env = std::getenv("FASTLIT_CKPT_DIRECT");
    int dfd = env && std::string(env) == "0" ? -1 : ::open(tmp.c_str(), O_WRONLY | O_DIRECT | O_CLOEXEC);
#else
    int dfd = -1;
#endif
    ZipWriter zip(fd, dfd, static_cast<uint64_t>(alignment_), crc32_, force_zip64_);
    int err = zip.write(entries);
    if (dfd >= 0) ::close(dfd);
    if (err) {
      ::close(fd);
      return fail(err, "could not write it");
    }
    if (::fsync(fd) != 0) {
      int e = errno;
      ::close(fd);
      return fail(e, "could not flush it to disk (fsync)");
    }
#ifdef __linux__
    ::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);  // on disk now: do not let checkpoints crowd the page cache
#endif
    if (::close(fd) != 0) return fail(errno, "could not close it");
    if (::rename(tmp.c_str(), job.path.c_str()) != 0) return fail(errno, "could not rename the temporary file");
    int dirfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dirfd >= 0) {  // the rename itself must survive a crash too
      ::fsync(dirfd);
      ::close(dirfd);
    }
    return std::nullopt;
  }

  const int64_t max_in_flight_;
  const int64_t alignment_;
  const bool crc32_;
  const bool force_zip64_;
  std::mutex mu_;
  std::condition_variable cv_work_, cv_done_, cv_stage_;
  std::deque<std::unique_ptr<Job>> queue_;
  std::deque<Job*> stage_queue_;  // jobs of queue_ whose deferred copies are not done, in order
  std::vector<c10::Storage> released_;  // copied deferred sources, dropped by the next caller-thread call
  std::vector<Slot> slots_;
  std::deque<Failure> failures_;
  std::set<int64_t> failed_writes_;
  int64_t in_flight_ = 0, last_id_ = 0, done_id_ = 0, last_write_id_ = -1;
  bool closed_ = false, thread_done_ = false, stager_done_ = false;
  std::thread thread_, stager_;
};

}  // namespace fastlit::io

TORCH_LIBRARY_FRAGMENT(fastlit, m) {
  m.class_<fastlit::io::CheckpointWriter>("CheckpointWriter")
      .def(torch::init<int64_t, int64_t, bool, bool>())
      .def("save", &fastlit::io::CheckpointWriter::save)
      .def("save_deferred", &fastlit::io::CheckpointWriter::save_deferred)
      .def("wait_staged", &fastlit::io::CheckpointWriter::wait_staged)
      .def("remove", &fastlit::io::CheckpointWriter::remove)
      .def("wait", &fastlit::io::CheckpointWriter::wait)
      .def("pending", &fastlit::io::CheckpointWriter::pending)
      .def("take_error", &fastlit::io::CheckpointWriter::take_error)
      .def("staging_bytes", &fastlit::io::CheckpointWriter::staging_bytes)
      .def("close", &fastlit::io::CheckpointWriter::close);
}
#endif  // !_WIN32
