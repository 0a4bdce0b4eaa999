#include "personcls/thread_pool.h"

#include <map>
#include <memory>

namespace personcls {

ThreadPool::ThreadPool(int threads) {
  if (threads <= 0) threads = static_cast<int>(std::thread::hardware_concurrency());
  if (threads <= 0) threads = 1;
  for (int i = 1; i < threads; ++i) workers_.emplace_back([this] { worker_loop(); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lk(mutex_);
    stop_ = true;
  }
  wake_.notify_all();
  for (auto& t : workers_) t.join();
}

void ThreadPool::run_tasks() {
  for (;;) {
    const std::function<void(std::size_t)>* fn;
    std::size_t i;
    {
      std::lock_guard<std::mutex> lk(mutex_);
      if (fn_ == nullptr || next_ >= n_) return;
      fn = fn_;
      i = next_++;
    }
    try {
      (*fn)(i);
    } catch (...) {
      std::lock_guard<std::mutex> lk(mutex_);
      if (!error_) error_ = std::current_exception();
    }
    std::lock_guard<std::mutex> lk(mutex_);
    if (++finished_ == n_) done_.notify_all();
  }
}

void ThreadPool::worker_loop() {
  std::size_t seen = 0;
  for (;;) {
    std::unique_lock<std::mutex> lk(mutex_);
    wake_.wait(lk, [&] { return stop_ || (generation_ != seen && fn_ != nullptr && next_ < n_); });
    if (stop_) return;
    seen = generation_;
    ++active_;
    lk.unlock();
    run_tasks();
    lk.lock();
    if (--active_ == 0) done_.notify_all();
  }
}

void ThreadPool::parallel_for(std::size_t n, const std::function<void(std::size_t)>& fn) {
  if (n == 0) return;
  if (workers_.empty() || n == 1) {
    for (std::size_t i = 0; i < n; ++i) fn(i);
    return;
  }
  std::lock_guard<std::mutex> call(call_mutex_);
  {
    std::lock_guard<std::mutex> lk(mutex_);
    fn_ = &fn;
    n_ = n;
    next_ = 0;
    finished_ = 0;
    error_ = nullptr;
    ++generation_;
  }
  wake_.notify_all();
  run_tasks();
  std::exception_ptr err;
  {
    std::unique_lock<std::mutex> lk(mutex_);
    done_.wait(lk, [&] { return finished_ == n_ && active_ == 0; });
    fn_ = nullptr;
    err = error_;
    error_ = nullptr;
  }
  if (err) std::rethrow_exception(err);
}

ThreadPool& shared_pool(int threads) {
  if (threads <= 0) threads = static_cast<int>(std::thread::hardware_concurrency());
  if (threads <= 0) threads = 1;
  static std::mutex m;
  // Pools live until exit on purpose: joining worker threads during interpreter shutdown
  // is a classic source of hangs.
  static auto* pools = new std::map<int, ThreadPool*>();
  std::lock_guard<std::mutex> lk(m);
  auto it = pools->find(threads);
  if (it == pools->end()) it = pools->emplace(threads, new ThreadPool(threads)).first;
  return *it->second;
}

}  // namespace personcls
