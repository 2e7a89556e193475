import csv
import json
import os
from pathlib import Path

import tether.dagster as dg

# the HackerNews API, as a file: this port makes no network call (its stories are a
# snapshot of the API's answers, item by item)
STORIES = Path(__file__).resolve().parent / "hackernews_items.json"


@dg.asset(group_name="hackernews", compute_kind="HackerNews API")
def topstory_ids() -> None:
    """Get up to 100 top stories from the HackerNews topstories endpoint.

    API Docs: https://github.com/HackerNews/API#new-top-and-best-stories
    """
    top_new_story_ids = [item["id"] for item in json.loads(STORIES.read_text())][:100]

    os.makedirs("data", exist_ok=True)
    with open("data/topstory_ids.json", "w", encoding="utf-8") as f:
        json.dump(top_new_story_ids, f)


@dg.asset(deps=[topstory_ids], group_name="hackernews", compute_kind="HackerNews API")
def topstories(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
    """Get items based on story ids from the HackerNews items endpoint.

    API Docs: https://github.com/HackerNews/API#items
    """
    with open("data/topstory_ids.json", encoding="utf-8") as f:
        topstory_ids = json.load(f)

    items = {item["id"]: item for item in json.loads(STORIES.read_text())}
    results = []
    for item_id in topstory_ids:
        item = items[item_id]
        results.append(item)

        if len(results) % 20 == 0:
            context.log.info(f"Got {len(results)} items so far.")

    columns = ["id", "title", "by", "score"]
    with open("data/topstories.csv", "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(results)

    head = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    head += ["| " + " | ".join(str(row[c]) for c in columns) + " |" for row in results[:5]]
    return dg.MaterializeResult(
        metadata={
            "num_records": len(results),  # Metadata can be any key-value pair
            "preview": dg.MetadataValue.md("\n".join(head)),
            # The `MetadataValue` class has useful static methods to build Metadata
        }
    )


@dg.asset(deps=[topstories], group_name="hackernews", compute_kind="Plot")
def most_frequent_words(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
    """Get the top 25 most frequent words in the titles of the top 100 HackerNews stories."""
    stopwords = ["a", "the", "an", "of", "to", "in", "for", "and", "with", "on", "is"]

    with open("data/topstories.csv", newline="", encoding="utf-8") as f:
        topstories = list(csv.DictReader(f))

    # loop through the titles and count the frequency of each word
    word_counts = {}
    for raw_title in (row["title"] for row in topstories):
        title = raw_title.lower()
        for word in title.split():
            cleaned_word = word.strip(".,-!?:;()[]'\"-")
            if cleaned_word not in stopwords and len(cleaned_word) > 0:
                word_counts[cleaned_word] = word_counts.get(cleaned_word, 0) + 1

    # Get the top 25 most frequent words
    top_words = {
        pair[0]: pair[1]
        for pair in sorted(word_counts.items(), key=lambda x: x[1], reverse=True)[:25]
    }

    # the original draws a bar chart with matplotlib; a Markdown table shows the same counts
    md_content = "| word | count |\n|---|---|\n" + "\n".join(
        f"| {word} | {count} |" for word, count in top_words.items()
    )

    with open("data/most_frequent_words.json", "w", encoding="utf-8") as f:
        json.dump(top_words, f)

    # Attach the Markdown content as metadata to the asset
    return dg.MaterializeResult(metadata={"plot": dg.MetadataValue.md(md_content)})
