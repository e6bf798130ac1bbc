//! With the `libtorch` feature, records where LibTorch's shared libraries are in the
//! binary's run path, so `sealtune` starts without `LD_LIBRARY_PATH`.
//! `SEALTUNE_LIBTORCH_RPATH` (a `:`-separated list of directories, set by
//! scripts/setup-libtorch.sh) says where; at run time `LD_LIBRARY_PATH` still wins, for a
//! LibTorch installed elsewhere.

fn main() {
    println!("cargo:rerun-if-env-changed=SEALTUNE_LIBTORCH_RPATH");
    if std::env::var_os("CARGO_FEATURE_LIBTORCH").is_none() {
        return;
    }
    let Ok(dirs) = std::env::var("SEALTUNE_LIBTORCH_RPATH") else {
        println!(
            "cargo:warning=SEALTUNE_LIBTORCH_RPATH is not set: this sealtune will need LD_LIBRARY_PATH to find LibTorch (build with scripts/setup-libtorch.sh)"
        );
        return;
    };
    for dir in dirs.split(':').filter(|d| !d.is_empty()) {
        println!("cargo:rustc-link-arg-bins=-Wl,-rpath,{dir}");
    }
}
