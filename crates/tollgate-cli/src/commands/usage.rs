use serde_json::json;
use tollgate_core::report_csv::{date_from_file_name, read_report};

use super::Context;
use crate::args::UsageCommand;
use crate::error::{CliError, Result};
use crate::output::{print, print_json};

pub fn run(context: &mut Context, command: UsageCommand) -> Result<()> {
    let files = match command {
        UsageCommand::Import { files } => files,
        UsageCommand::Sync { .. } => {
            return Err(CliError::usage(
                "usage sync works on an AWS workspace: add --workspace NAME ([workspaces.NAME] in tollgate.toml)",
            ));
        }
    };
    let mut results = Vec::new();
    let mut failed_files = 0;
    for path in &files {
        let outcome = std::fs::File::open(path)
            .map_err(|error| error.to_string())
            .and_then(|file| {
                read_report(
                    std::io::BufReader::new(file),
                    date_from_file_name(&path.to_string_lossy()),
                )
                .map_err(|error| error.to_string())
            });
        let report = match outcome {
            Ok(report) => report,
            Err(reason) => {
                eprintln!("error: {}: {reason}", path.display());
                failed_files += 1;
                results.push(json!({ "file": path, "error": reason }));
                continue;
            }
        };
        for problem in &report.problems {
            eprintln!(
                "warning: {}:{}: {} (row skipped)",
                path.display(),
                problem.line,
                problem.message
            );
        }
        let summary = context
            .store
            .import_report_rows(&report.rows, &path.display().to_string())?;
        if summary.skipped_without_date > 0 {
            eprintln!(
                "warning: {}: {} rows have no date and the file name is not YYYY-MM-DD.csv (rows skipped)",
                path.display(),
                summary.skipped_without_date
            );
        }
        if !context.json {
            print(&format!(
                "{}: imported {} rows into {} daily rollups; {} bad rows skipped\n",
                path.display(),
                summary.rows,
                summary.rollup_rows,
                report.problems.len() as u64 + summary.skipped_without_date
            ))?;
        }
        results
            .push(json!({ "file": path, "imported": summary, "bad_rows": report.problems.len() }));
    }
    if context.json {
        print_json(&results)?;
    }
    if failed_files > 0 {
        return Err(CliError::usage(format!(
            "{failed_files} of {} files could not be imported",
            files.len()
        )));
    }
    Ok(())
}
