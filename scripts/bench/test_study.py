"""Tests of the speed study (scripts/bench/study.py), on tiny sizes: run by scripts/tests/bench_study.sh."""
import sys
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parent))
import study
globals().update({k: v for k, v in vars(study).items() if not k.startswith('__')})    # its private helpers too

if __name__ == '__main__':        # not in the processes that isolated() spawns, which import this file as __mp_main__
    from dual_ifm.bench import matmul_rate, step_flops

    from fastcore.test import test_close, test_eq, test_fail
    import tempfile, json

    _an = step_anatomy(width=0.125, image_size=32, batch=4, steps=1, warmup=1)
    _kinds = [r['way'] for r in _an]
    from dual_ifm.accel import load_kernels, weight_grad_unavailable
    _bn_kind = 'fused batch norm + ReLU (C++ kernels)' if load_kernels() else 'batch norm'     # the kernels are seen although not aten operations
    assert {'convolutions, forward', 'convolutions, backward', _bn_kind, 'optimiser'} <= set(_kinds), _kinds
    if load_kernels(): assert 'batch norm' not in _kinds, _kinds                   # every batch norm of BagNet-33 is in the kernels
    test_eq(_kinds[-1], 'whole step'); assert all(k in ANATOMY_KINDS for k in _kinds[:-2])
    test_eq(_kinds[-2], 'between operations (Python, autograd)')
    if weight_grad_unavailable() is None: assert 'weight gradients (C++ kernel)' in _kinds, _kinds   # (layer3-4 at this width)
    # every operation is counted once (none inside another): the kinds fit inside the step timed op by op, and the
    # convolution + matrix FLOPs of one step are torch's FlopCounterMode count for forward + backward of its 4 images
    assert all(r['s/step'] > 0 for r in _an[:-2]) and _an[-2]['s/step'] >= 0, _an
    _fl = sum(r['s/step'] * r['GFLOP/s'] for r in _an[:-2] if r['GFLOP/s'] == r['GFLOP/s']) * 1e9
    assert abs(_fl / (4 * step_flops(width=0.125, image_size=32)) - 1) < 0.01, _fl
    assert _an[[k['way'] for k in _an].index(_bn_kind)]['GB/s'] > 0
    assert _an[[k['way'] for k in _an].index('convolutions, forward')]['top_ops'].startswith('convolution ')   # the slowest operations of a kind
    test_eq(_op_bytes((torch.zeros(2, 3), [torch.zeros(4, dtype=torch.bfloat16)]), {}, torch.zeros(5)), 24 + 8 + 20)
    test_eq(_op_kind('threshold_backward'), 'ReLU, residual adds, gradient sums'); test_eq(_op_kind('native_batch_norm_backward'), 'batch norm')
    test_eq(_op_kind('convolution_backward'), 'convolutions, backward'); test_eq(_op_kind('cudnn_batch_norm'), 'batch norm')
    test_fail(lambda: step_anatomy(mode='bf16 channels-last compiled'), contains='step_anatomy needs an eager mode')
    test_fail(lambda: step_anatomy(mode='int8'), contains="Unknown mode 'int8'")

    _tmp = Path(tempfile.mkdtemp())
    _modes = [m for m in STEP_MODES if 'compiled' not in m]                # compilation is tested once, below
    _cfg = BenchConfig(quick=True, width=[0.125], image_size=[32], batch=4, photos=8, pipeline_size=32, epoch_size=32, workers=0,
                       loss_batches=[64], isolate=False, modes=_modes, out=_tmp / 'bench.json')
    _tab = run_bench(_cfg)
    test_eq(list(dict.fromkeys(_tab.section)), list(SECTIONS))
    test_eq(list(_tab[_tab.section == 'step']['way']), _modes)
    test_eq(list(_tab[_tab.section == 'augment']['way']), list(AUGMENT_WAYS))
    test_fail(lambda: time_augment(bench_images(2, 32), ways=['dali']), contains="Unknown augmentation way(s) ['dali']")
    _c = time_training_step(width=0.125, image_size=32, batch=4, mode='bf16 channels-last compiled', steps=1, warmup=1)
    assert _c['img/s'] > 0 and _c['mode'] == 'bf16 channels-last compiled'
    assert _c['first_step_s'] > 0 and np.isnan(time_training_step(width=0.125, image_size=32, batch=4, steps=1, warmup=0)['first_step_s'])
    assert _tab[_tab.section == 'step'].note.str.contains(r'first step [0-9.e+-]+ s').all()       # the warm-up's first step, beside the settled rate
    test_eq(BenchConfig(quick=True).modes, list(QUICK_MODES)); test_eq(BenchConfig(quick=True, modes=['bf16']).modes, ['bf16'])
    _q = BenchConfig(quick=True, warmup=5, steps=9); test_eq((_q.steps, _q.warmup), (2, 5))   # --quick shortens the timed steps, keeps the warm-up asked for
    assert (_tab.value > 0).all() and _tab[_tab.section == 'epoch'].note.str.contains('bottleneck').any()
    assert _tab[(_tab.section == 'step') & (_tab.way == 'bf16 channels-last')].note.str.contains('of the bf16 matmul peak').all()
    _an = _tab[_tab.section == 'anatomy']; test_eq(_an.way.iloc[-1], 'whole step')
    assert _an[_an.way == 'convolutions, backward'].note.str.contains('of the step timed op by op; .* GFLOP/s = .* of the bf16 matmul peak').all()
    assert _an[_an.way == 'batch norm'].note.str.contains('moves >= .* GB/s = .* of the copy rate').all()
    test_eq(_tab[(_tab.section == 'matmul')].unit.tolist(), ['GFLOP/s', 'GFLOP/s', 'GB/s'])
    _j = json.loads((_tmp / 'bench.json').read_text()); test_eq(len(_j['table']), len(_tab))
    _ep = time_epoch(bench_images(8, 32), width=0.125, batch=4, workers=0, augment_on='device')      # the GPU's path, here on the CPU
    test_eq([r['way'] for r in _ep], ['loader alone', 'training step alone', 'end to end']); test_eq(_ep[0]['views_made'], 'on the device')
    test_fail(lambda: time_epoch(bench_images(8, 32), augment_on='gpu'), contains='augment_on must be auto, device or workers')
    test_fail(lambda: BenchConfig(modes=['fp64']), contains="Unknown mode(s) ['fp64']")
    test_fail(lambda: BenchConfig(sections=['io']), contains="Unknown section(s) ['io']")
    test_fail(lambda: BenchConfig(repeats=0), contains='repeats must be at least 1, got 0')
    test_fail(lambda: BenchConfig(anatomy_mode='bf16 channels-last compiled'), contains="anatomy mode 'bf16 channels-last compiled' is not an eager step mode")
    test_fail(lambda: time_training_step(width=0.25, image_size=32, batch=3), contains='batch must be an even number of images')
    test_fail(lambda: BenchConfig(width=[1, 0.25], image_size=[256, 128, 64]), contains='give one image size or one per width')

    # repeats: the modes take turns, each row keeps every run and reports the median rate and the largest peak
    _calls, _rates = [], {'fp32 (published)': [1., 3., 2.], 'bf16 channels-last': [5., 4., 6.]}
    def _fake(w, s, m):
        _calls.append(m)
        return {'width': w, 'image_size': s, 'mode': m, 'img/s': _rates[m][_calls.count(m) - 1]}, 10.0 * len(_calls)
    _rr = _repeated_steps(BenchConfig(modes=list(_rates), width=[1.0], image_size=[256], repeats=3), [256], _fake)
    test_eq(_calls, list(_rates) * 3)
    test_eq([(r['mode'], r['img/s'], r['runs_img/s'], r['peak_mem_mb']) for r in _rr],
            [('fp32 (published)', 2., [1., 3., 2.], 50.), ('bf16 channels-last', 5., [5., 4., 6.], 60.)])
    test_close(_rr[0]['s/step'], 8 / 2.)
    _t2 = run_bench(BenchConfig(sections=['step'], modes=['bf16 channels-last'], repeats=2, width=[0.125], image_size=[32], batch=4,
                                quick=True, isolate=False))
    assert _t2.note.str.contains(r'median of 2 runs \(.*img/s\)').all(), _t2.note.tolist()

    import signal, multiprocessing
    import study as _bench
    _real_loss = time_loss
    def time_loss(*args, **kwargs):                   # a planted failure, after the JSON of the finished section was written
        _seen.append(json.loads((_tmp / 'f.json').read_text()))
        raise RuntimeError('CUDA out of memory (planted)')
    study.time_loss = time_loss                          # run_bench looks it up in its module
    _seen = []
    try: _tf = run_bench(BenchConfig(sections=['matmul', 'loss'], loss_batches=[64], matmul_size=64, isolate=False, quick=True, out=_tmp / 'f.json'))
    finally: study.time_loss = time_loss = _real_loss
    test_eq(_tf.section.tolist(), ['matmul'] * 3 + ['loss'])                          # measured in the order asked
    test_eq(_tf.iloc[-1][['way', 'unit', 'note']].tolist(), ['global batch 64', 'failed', 'RuntimeError: CUDA out of memory (planted)'])
    test_eq(_tf.setting.iloc[0], 'matmul 64^3')
    test_eq((_seen[0]['state'], [r['section'] for r in _seen[0]['table']]), ('partial', ['matmul'] * 3))
    test_eq(json.loads((_tmp / 'f.json').read_text())['state'], 'complete')
    def time_loss(*args, **kwargs): raise RuntimeError('CUDA out of memory (planted)')
    study.time_loss = time_loss                          # run_bench looks it up in its module
    try: test_fail(lambda: run_bench(BenchConfig(sections=['loss'], loss_batches=[64], isolate=False, keep_going=False)), contains='(planted)')
    finally: study.time_loss = time_loss = _real_loss

    # SIGTERM (here sent by the measurement itself) ends the run with the table so far; the handler is put back
    _before = signal.getsignal(signal.SIGTERM)
    def time_loss(*args, **kwargs): os.kill(os.getpid(), signal.SIGTERM); time.sleep(5)
    study.time_loss = time_loss                          # run_bench looks it up in its module
    try: _ti = run_bench(BenchConfig(sections=['matmul', 'loss', 'step'], loss_batches=[64], matmul_size=64, isolate=False, out=_tmp / 'i.json'))
    finally: study.time_loss = time_loss = _real_loss
    test_eq(_ti[['section', 'unit']].values.tolist()[-2:], [['matmul', 'GB/s'], ['loss', 'stopped']])     # step never started
    test_eq(json.loads((_tmp / 'i.json').read_text())['state'], 'interrupted')
    assert signal.getsignal(signal.SIGTERM) is _before

    # an interrupted isolated() measurement takes its process with it
    def _alarm(*_): raise KeyboardInterrupt
    _old = signal.signal(signal.SIGALRM, _alarm); signal.setitimer(signal.ITIMER_REAL, 0.5)
    try: _bench.isolated(time.sleep, 60); raise AssertionError('not interrupted')
    except KeyboardInterrupt: pass
    finally: signal.signal(signal.SIGALRM, _old)
    test_eq(multiprocessing.active_children(), [])

    # a mode that fails is reported once with its error and not tried again; the others keep their median
    def _flaky(w, s, m):
        _calls.append(m)
        if m == 'bf16 channels-last compiled': raise RuntimeError('no C++ compiler (planted)')
        return {'width': w, 'image_size': s, 'mode': m, 'img/s': 2.}, 1.
    _calls = []
    _rf = _repeated_steps(BenchConfig(modes=['fp32 (published)', 'bf16 channels-last compiled'], width=[1.], image_size=[256], repeats=2), [256], _flaky)
    test_eq(_calls, ['fp32 (published)', 'bf16 channels-last compiled', 'fp32 (published)'])
    test_eq([(r['mode'], r.get('img/s'), r.get('error')) for r in _rf],
            [('fp32 (published)', 2., None), ('bf16 channels-last compiled', None, 'RuntimeError: no C++ compiler (planted)')])

    # on a GPU the rates read in TFLOP/s, and float32 steps are held against the TF32 rate (cuDNN's precision for them)
    test_eq((_flop_rate(559.4), _flop_rate(312_000.)), ('559 GFLOP/s', '312 TFLOP/s'))
    test_eq((_share(0.153), _share(0.0042), _share(0.)), ('15%', '0.4%', '0%'))
    _gpu = [{'section': 'matmul', 'what': 'matmul 8192^3', 'way': w, 'GFLOP/s': g, 'peak_mem_mb': 1.}
            for w, g in (('float32', 51_000.), ('tfloat32', 400_000.), ('bfloat16', 790_000.))]
    _gpu += [{'section': 'step', 'mode': m, 'backbone': 'bagnet33', 'width': 1., 'image_size': 256, 'batch': 64, 'processes': 1, 'threads': 16,
              'img/s': r, 'gflop_per_img': 134.5, 'peak_mem_mb': 1.} for m, r in (('fp32 (published)', 408.), ('bf16 channels-last', 857.))]
    _tg = _report(BenchConfig(), pd.DataFrame(_gpu), echo=False)
    test_eq(_tg[['value', 'unit']].values.tolist()[:3], [[51., 'TFLOP/s'], [400., 'TFLOP/s'], [790., 'TFLOP/s']])
    test_eq(_tg.note.tolist()[3:], ['55 TFLOP/s = 14% of the tf32 matmul peak', '115 TFLOP/s = 15% of the bf16 matmul peak'])
    _before = torch.get_float32_matmul_precision()

    test_fail(lambda: BenchConfig(batch=3), contains='batch must be an even number of images')
    test_fail(lambda: BenchConfig(loss_batches=[1024, 0]), contains='loss batch sizes must be positive numbers of photographs, got [0]')
    test_fail(lambda: BenchConfig(matmul_size=0), contains='matmul_size must be a positive matrix size, got 0')
    test_fail(lambda: BenchConfig(photos=1), contains='photos must be at least 2, got 1')
    test_fail(lambda: BenchConfig(steps=0), contains='steps must be at least 1, got 0')

    import study as _bench            # a child process imports the function by name, so the module's, not this notebook's
    _r, _rss = _bench.isolated(_bench.matmul_rate, 256, torch.float32, 'cpu', 1)
    assert _r > 0 and _rss > 50
    test_fail(lambda: _bench.isolated(_bench.time_loss, -1), contains='time_loss failed in its process')

    print("study tests passed")
