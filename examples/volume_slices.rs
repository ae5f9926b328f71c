//! Draws the planted maps of `simulate --volumes` (default grid, rank and seed) as orthogonal
//! slices over the mean subject: the example figure of `report::plots::volume`.
//!
//!     cargo run --release --example volume_slices -- OUT_DIR [RANK] [--signed]
//!
//! Writes OUT_DIR/volume_slices.png and .svg. With `--signed`, two more rows show how signed and
//! empty maps are drawn (as ICA or PCA maps may be): component 1 − component 2, and all zeros.

#![allow(clippy::unwrap_used)] // an example

use ndarray::Axis;
use nnmf_sweep::report::plots::volume::orthogonal_slices;
use nnmf_sweep::simulate::volumes::{Volumes, draw_volumes};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let dir = std::path::PathBuf::from(args.get(1).map_or(".", String::as_str));
    let rank = args
        .get(2)
        .filter(|a| !a.starts_with('-'))
        .map_or(4, |r| r.parse().unwrap());
    let v = Volumes {
        grid: [24, 28, 24],
        voxel_mm: 4.0,
        subjects: 40,
        rank,
        mean: 10.0,
        mix: 0.1,
        dispersion: None,
        seed: 1,
    };
    let p = draw_volumes(&v);
    let mean = p.data.mapv(f64::from).mean_axis(Axis(3)).unwrap();
    let mut maps: Vec<(String, ndarray::ArrayView3<f64>)> = (0..rank)
        .map(|k| (format!("component {}", k + 1), p.components.index_axis(Axis(3), k)))
        .collect();
    let c = |k: usize| p.components.index_axis(Axis(3), k);
    let signed = &c(0) - &c(1.min(rank - 1));
    let zero = ndarray::Array3::<f64>::zeros(mean.dim());
    if args.iter().any(|a| a == "--signed") {
        maps.push(("component 1 − 2".into(), signed.view()));
        maps.push(("all zero".into(), zero.view()));
    }
    let title = format!("Planted maps (rank {rank}, seed 1) over the mean of 40 subjects");
    let written = orthogonal_slices(&dir, "volume_slices", &title, &maps, mean.view(), [4.0; 3]).unwrap();
    for p in written {
        println!("{}", p.display());
    }
}
