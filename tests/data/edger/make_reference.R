# Reference numbers for kratom_omics.pp library sizes, TMM factors, log-CPM and voom weights.
# Run from this directory:  Rscript make_reference.R
# Uses edgeR (Debian r-bioc-edger) and limma (Debian r-bioc-limma); versions are written to versions.txt.
suppressPackageStartupMessages({ library(edgeR); library(limma) })
set.seed(20261127)
n_feat <- 60
groups <- factor(rep(c("control", "withdrawal"), each = 4), levels = c("control", "withdrawal"))
samples <- paste0(groups, "_", rep(1:4, 2))
mu <- 2^runif(n_feat, 1, 11)
lib <- c(1.0, 1.3, 0.8, 1.1, 1.2, 0.9, 1.0, 1.4)
counts <- sapply(seq_along(samples), function(j) {
  shift <- ifelse(groups[j] == "withdrawal" & seq_len(n_feat) <= 12, 0.35, 1)  # global loss on some
  rnbinom(n_feat, mu = mu * lib[j] * shift, size = 10)
})
counts[5, ] <- 0L                     # a region with no reads in any sample
counts[7, c(1, 6)] <- 0L              # zeros in some samples
counts[9, ] <- counts[10, ]           # identical rows give ties in the ranks
dimnames(counts) <- list(sprintf("region%02d", seq_len(n_feat)), samples)
write.csv(counts, "counts.csv", quote = FALSE)
batch <- factor(rep(c("B1", "B2"), 4))
write.csv(data.frame(sample = samples, phase = groups, batch = batch), "samples.csv", quote = FALSE,
          row.names = FALSE)

y <- DGEList(counts, group = groups)
y$samples$batch <- batch
tmm <- calcNormFactors(counts, method = "TMM")
tmm_nw <- calcNormFactors(counts, method = "TMM", doWeighting = FALSE)
tmm_ref3 <- calcNormFactors(counts, method = "TMM", refColumn = 3)
tmm_trim <- calcNormFactors(counts, method = "TMM", logratioTrim = 0.2, sumTrim = 0.1)
uq <- calcNormFactors(counts, method = "upperquartile")
# factors from a subset of features (e.g. background bins: rows 41-60) with the total library sizes,
# as csaw's normFactors(bins, se.out = data) computes them
tmm_subset <- calcNormFactors(counts[41:60, ], lib.size = colSums(counts), method = "TMM")
write.csv(data.frame(sample = samples, lib_size = colSums(counts), tmm = tmm, tmm_noweight = tmm_nw,
                     tmm_ref3 = tmm_ref3, tmm_trim = tmm_trim, upperquartile = uq,
                     tmm_subset = tmm_subset),
          "norm_factors.csv", quote = FALSE, row.names = FALSE)

y <- calcNormFactors(y, method = "TMM")
write.csv(cpm(y, log = TRUE, prior.count = 2), "cpm_log_prior2.csv", quote = FALSE)
design <- model.matrix(~group, data = y$samples)
v <- voom(y, design)
write.csv(v$E, "voom_E.csv", quote = FALSE)
w <- v$weights; dimnames(w) <- dimnames(counts)
write.csv(w, "voom_weights.csv", quote = FALSE)
vb <- voom(y, model.matrix(~group + batch, data = y$samples), span = 0.4)  # a covariate, another span
wb <- vb$weights; dimnames(wb) <- dimnames(counts)
write.csv(wb, "voom_weights_batch_span04.csv", quote = FALSE)
v0 <- voom(counts)                      # no design, no normalisation factors
w0 <- v0$weights; dimnames(w0) <- dimnames(counts)
write.csv(w0, "voom_weights_nodesign.csv", quote = FALSE)

# voom -> lmFit -> eBayes: the weights used by a weighted linear model (contrast withdrawal - control)
fit <- eBayes(lmFit(v, design))
tt <- topTable(fit, coef = 2, number = Inf, sort.by = "none")
write.csv(data.frame(feature = rownames(tt), logFC = tt$logFC, AveExpr = tt$AveExpr, t = tt$t,
                     P.Value = tt$P.Value, adj.P.Val = tt$adj.P.Val, B = tt$B),
          "voom_limma_toptable.csv", quote = FALSE, row.names = FALSE)

writeLines(c(paste("R", R.version$major, R.version$minor), paste("edgeR", packageVersion("edgeR")),
             paste("limma", packageVersion("limma"))), "versions.txt")
